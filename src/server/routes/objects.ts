// /v1/objects: list, HEAD, GET, PUT and DELETE. Object keys travel in the URL
// path and are data, never paths. Bodies are streams of bytes whatever their
// content type (see the parsers in ../app.ts), never buffered whole.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { DfsError } from '../../errors.js';
import { runOp } from '../../ops/index.js';
import { parsePolicy } from '../../pool/index.js';
import { lookupObject, objectSummary, putObject, readObject, sendChunks, streamSource, type Engine } from '../../store/index.js';
import { errors, keyParams, open, putResult } from '../schemas.js';

/** The key a continuation token stands for (base64url of its UTF-8). */
function fromToken(token: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(token)) throw new DfsError('DFS_ERR_API_VALIDATION', 'token is not a continuation token of this listing');
  return Buffer.from(token, 'base64url').toString('utf8');
}

function objectKey(request: FastifyRequest): string {
  return (request.params as { '*': string })['*'];
}

export async function objectRoutes(app: FastifyInstance, { engine }: { engine: Engine }): Promise<void> {
  // Pages in key order. `nextToken` continues a listing where a page ended (give it as `token`);
  // `next` is the last key of the page, for `after`.
  app.get('/v1/objects', {
    schema: {
      tags: ['objects'],
      querystring: {
        type: 'object',
        properties: {
          prefix: { type: 'string', maxLength: 1024 }, after: { type: 'string', maxLength: 4096 }, token: { type: 'string', maxLength: 8192 },
          limit: { type: 'string', pattern: '^[1-9][0-9]{0,4}$' },
        },
        additionalProperties: false,
      },
    },
  }, async (request) => {
    const q = request.query as { prefix?: string; after?: string; token?: string; limit?: string };
    const limit = Math.min(Number(q.limit ?? 1000), 10_000);
    const after = q.token !== undefined ? fromToken(q.token) : q.after;
    const rows = engine.catalog.listObjects({ ...(q.prefix ? { prefix: q.prefix } : {}), ...(after ? { after } : {}), limit: limit + 1 });
    const page = rows.slice(0, limit);
    const last = rows.length > limit ? page[page.length - 1]!.key : null;
    return { objects: page.map(objectSummary), next: last, nextToken: last === null ? null : Buffer.from(last, 'utf8').toString('base64url') };
  });

  app.head('/v1/objects/*', { schema: { tags: ['objects'], params: keyParams } }, async (request, reply) => {
    const object = lookupObject(engine, objectKey(request));
    return reply.header('content-length', object.size).header('x-dynamicfs-checksum', object.checksum).header('x-dynamicfs-policy', object.policy).code(200).send();
  });

  app.get('/v1/objects/*', { schema: { tags: ['objects'], params: keyParams, response: errors } }, async (request, reply) => {
    const object = lookupObject(engine, objectKey(request));
    const chunks = readObject(engine, object);
    // The first extent is read before anything is sent, so that a failure there is a plain error answer.
    const first = await chunks.next();
    const res = reply.raw;
    reply.hijack();
    res.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string | number>),
      'content-type': 'application/octet-stream',
      'content-length': object.size,
      'x-dynamicfs-checksum': object.checksum,
    });
    // The status line is out: the only way left to say "failed" is a short body and a cut connection.
    const failed = await sendChunks(res, chunks, first);
    if (failed) request.log.error({ key: object.key, err: failed.message, code: (failed as { code?: string }).code }, 'read failed after the response began; connection cut');
  });

  app.put('/v1/objects/*', {
    schema: {
      tags: ['objects'],
      params: keyParams,
      response: { 200: putResult, ...errors },
      querystring: { type: 'object', properties: { policy: { type: 'string', maxLength: 32 } }, additionalProperties: false },
    },
  }, async (request, reply) => {
    const { policy } = request.query as { policy?: string };
    const body = request.body as Readable | undefined;
    // The announced length sizes the put's buffers (a small object takes a small one).
    const length = Number(request.headers['content-length']);
    const source = streamSource(body ?? Readable.from([]), body && Number.isSafeInteger(length) && length >= 0 ? length : body ? null : 0);
    let result;
    try {
      result = await putObject(engine, source, objectKey(request), policy ? { policy: parsePolicy(policy) } : {});
    } catch (error) {
      // A put refused before (or while) reading its body: the rest of the body is not read, so the
      // connection closes after the answer instead of waiting half-read (it would hold up a shutdown).
      if (body && !body.readableEnded) void reply.header('connection', 'close');
      throw error;
    }
    const { objectId: _id, ...shape } = result;
    return shape;
  });

  app.delete('/v1/objects/*', { schema: { tags: ['objects'], params: keyParams, response: { 200: open({ key: { type: 'string' }, deleted: { type: 'boolean' } }, ['key', 'deleted']), ...errors } } }, async (request) => runOp(engine, 'rm', { key: objectKey(request) }));
}
