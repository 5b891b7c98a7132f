// The fastify application: /health and /metrics for monitors, /v1 for
// operators and programs (bearer token, JSON schemas, OpenAPI at /docs/json),
// errors as {"error":{"code","message"}} with the registry's status and no
// internals. Object keys travel in the URL path and are data, never paths.
import Fastify, { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyMetricsModule from 'fastify-metrics';
import swagger from '@fastify/swagger';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Registry } from 'prom-client';
import { DfsError, ERRORS, serializeError } from '../errors.js';
import { enterLogContext, type Logger } from '../log/index.js';
import { parsePolicy } from '../pool/index.js';
import {
  HEALTH_STATUSES, lookupObject, objectSummary, poolHealth, putObject, readObject, streamSource, type Engine,
} from '../store/index.js';
import { OPS, runOp, type OpParams } from '../ops/index.js';
import { Jobs, JOB_STATES } from './jobs.js';
import { FREQUENCIES, INTENSITIES, SCRUB_STATES } from '../scrub/index.js';

export interface AppOptions {
  engine: Engine;
  registry: Registry;
  token: string;
  logger: Logger;
  /** Largest JSON body accepted (object bodies are streamed, not limited). */
  bodyLimit?: number;
}

const HEALTH_STATUS = { healthy: 200, degraded: 202, critical: 503 } as const;
const errorSchema = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } }, required: ['code', 'message'] } },
} as const;

// Response schemas document the shapes (OpenAPI) and keep every field: extra ones pass through.
const open = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', properties, required, additionalProperties: true }) as const;
const errors = { 400: errorSchema, 401: errorSchema, 404: errorSchema, 409: errorSchema, 500: errorSchema, 503: errorSchema } as const;
const keyParams = { type: 'object', properties: { '*': { type: 'string', minLength: 1, maxLength: 4096 } }, required: ['*'] } as const;
const putSchema = open({ key: { type: 'string' }, size: { type: 'integer' }, policy: { type: 'string' }, extents: { type: 'integer' }, checksum: { type: 'string' }, replaced: { type: 'boolean' } }, ['key', 'size', 'policy', 'extents', 'checksum']);
const healthSchema = open({ status: { type: 'string', enum: [...HEALTH_STATUSES] }, message: { type: 'string' }, timestamp: { type: 'string' }, checks: { type: 'object', additionalProperties: true } }, ['status', 'message', 'timestamp', 'checks']);
const diskSchema = open({ id: { type: 'string' }, path: { type: 'string' }, state: { type: 'string' }, capacityBytes: { type: 'integer' }, usedBytes: { type: 'integer' }, fragments: { type: 'integer' } });

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Constant-time comparison of a presented bearer token with the pool's. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return timingSafeEqual(digest(match?.[1] ?? ''), digest(token)) && match !== null;
}

function sendError(reply: FastifyReply, error: DfsError | { code: keyof typeof ERRORS; message: string }): FastifyReply {
  const status = error instanceof DfsError ? error.httpStatus : ERRORS[error.code].httpStatus;
  return reply.code(status).type('application/json').send({ error: { code: error.code, message: error.message } });
}

function objectKey(request: FastifyRequest): string {
  return (request.params as { '*': string })['*'];
}

/**
 * One log line per request, written when it ends, with what an operator
 * greps for (method, URL, status, time), instead of fastify's two lines
 * carrying the whole request and reply (about 1.1 KB per request at info).
 */
class OneLineRequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 };
    if (error) reply.log.error({ ...line, err: error.message }, 'request errored');
    else reply.log.info(line, 'request');
  }
}

// fastify-metrics is CommonJS with `exports.default`: under NodeNext the default import is the module object.
const fastifyMetrics = fastifyMetricsModule.default;

export type DynamicfsApp = Awaited<ReturnType<typeof buildApp>>;

export async function buildApp(options: AppOptions) {
  const { engine, registry, token } = options;
  const app = Fastify({
    loggerInstance: options.logger.child({ component: 'http' }),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    requestIdHeader: false,
    logController: new OneLineRequestLog(),
    // Errors fastify raises before a route runs (a malformed URL encoding) get our shape and codes.
    frameworkErrors: (error, _request, reply) => {
      void sendError(reply, { code: 'DFS_ERR_API_BAD_REQUEST', message: `${ERRORS.DFS_ERR_API_BAD_REQUEST.message}: ${error.code === 'FST_ERR_BAD_URL' ? 'the URL is not valid percent-encoding' : error.message}` });
    },
    // Errors Node's HTTP parser meets (headers or URL too large, a malformed request line) too.
    clientErrorHandler: (error: Error & { code?: string }, socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const [status, code, text] = error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'DFS_ERR_API_HEADERS_TOO_LARGE', 'Request Header Fields Too Large'] as const
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'DFS_ERR_API_TIMEOUT', 'Request Timeout'] as const
          : [400, 'DFS_ERR_API_BAD_REQUEST', 'Bad Request'] as const;
      const body = JSON.stringify({ error: { code, message: ERRORS[code].message } });
      if (socket.writable) socket.write(`HTTP/1.1 ${status} ${text}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
      socket.destroy(error);
    },
    // An incoming X-Request-Id is honoured when it is short and plain; otherwise a new one.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'DynamicFS control and object API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(fastifyMetrics, {
    endpoint: null,
    defaultMetrics: { enabled: false },
    // The histogram only: a summary named *_summary_seconds draws a promtool remark and adds nothing.
    routeMetrics: { enabled: { histogram: true, summary: false }, overrides: { histogram: { registers: [registry] } } },
  });

  app.addHook('onRequest', async (request, reply) => {
    enterLogContext(request.log as unknown as Logger);
    reply.header('x-request-id', request.id);
    if (request.url.startsWith('/v1') && !tokenMatches(request.headers.authorization, token)) {
      request.log.warn({ method: request.method, url: request.url, ip: request.ip, presented: request.headers.authorization ? 'a wrong token' : 'no token' }, 'authentication failed');
      void reply.header('www-authenticate', 'Bearer realm="dynamicfs"');
      return sendError(reply, new DfsError('DFS_ERR_API_UNAUTHORIZED'));
    }
    // JSON routes take JSON: anything else is refused as such (415), not as a schema mismatch.
    const type = request.headers['content-type'];
    if (request.routeOptions.schema?.body && type !== undefined && !/^application\/json\s*(;|$)/i.test(type)) {
      return sendError(reply, new DfsError('DFS_ERR_API_MEDIA_TYPE', `${request.method} ${request.routeOptions.url} takes application/json, not ${type.slice(0, 80)}`));
    }
  });

  app.setErrorHandler((error: Error & { code?: string; statusCode?: number; validation?: unknown }, request, reply) => {
    if (error instanceof DfsError) {
      if (error.httpStatus >= 500) request.log.error({ code: error.code, err: error.message }, 'request failed');
      return sendError(reply, error);
    }
    if (error.validation) return sendError(reply, { code: 'DFS_ERR_API_VALIDATION', message: `${ERRORS.DFS_ERR_API_VALIDATION.message}: ${error.message}` });
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || error.statusCode === 413) return sendError(reply, new DfsError('DFS_ERR_API_BODY_TOO_LARGE'));
    if (error.statusCode === 415) return sendError(reply, new DfsError('DFS_ERR_API_MEDIA_TYPE', error.message));
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return sendError(reply, { code: 'DFS_ERR_API_BAD_REQUEST', message: `${ERRORS.DFS_ERR_API_BAD_REQUEST.message}: ${error.message}` });
    }
    const serialized = serializeError(error);
    if (serialized.code !== 'DFS_ERR_INTERNAL_UNEXPECTED') return sendError(reply, serialized); // a damaged catalogue, say
    request.log.error({ err: error }, 'unexpected error');
    return sendError(reply, { code: serialized.code, message: ERRORS.DFS_ERR_INTERNAL_UNEXPECTED.message });
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, new DfsError('DFS_ERR_API_NOT_FOUND', `${request.method} ${request.url.split('?')[0]}`)));

  // Object bodies are streams of bytes whatever their content type.
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

  app.get('/health', { schema: { tags: ['monitoring'], security: [], response: { 200: healthSchema, 202: healthSchema, 503: healthSchema } } }, async (_request, reply) => {
    const health = poolHealth(engine);
    return reply.code(HEALTH_STATUS[health.status]).send(health);
  });

  app.get('/metrics', { schema: { tags: ['monitoring'], security: [] }, config: { disableMetrics: false } }, async (_request, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics());
  });

  app.get('/docs/json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/v1/status', { schema: { tags: ['pool'], response: { 200: open({ poolId: { type: 'string' }, objects: { type: 'integer' }, extents: { type: 'object', additionalProperties: true } }), ...errors } } }, async () => runOp(engine, 'status', {}));
  app.get('/v1/disks', { schema: { tags: ['disks'], response: { 200: open({ disks: { type: 'array', items: diskSchema } }, ['disks']), ...errors } } }, async () => runOp(engine, 'list-disks', {}));

  app.get('/v1/objects', {
    schema: {
      tags: ['objects'],
      querystring: {
        type: 'object',
        properties: { prefix: { type: 'string', maxLength: 1024 }, after: { type: 'string', maxLength: 1024 }, limit: { type: 'string', pattern: '^[1-9][0-9]{0,4}$' } },
        additionalProperties: false,
      },
    },
  }, async (request) => {
    const q = request.query as { prefix?: string; after?: string; limit?: string };
    const limit = Math.min(Number(q.limit ?? 1000), 10_000);
    const rows = engine.catalog.listObjects({ ...(q.prefix ? { prefix: q.prefix } : {}), ...(q.after ? { after: q.after } : {}), limit: limit + 1 });
    const page = rows.slice(0, limit);
    return {
      objects: page.map(objectSummary),
      next: rows.length > limit ? page[page.length - 1]!.key : null,
    };
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
    // Each chunk lies in a worker's read slot, freed when the next is asked for: it goes to the
    // socket as it is (no copy) and the next is asked for once the socket has taken it all (the
    // write's callback). No buffer per chunk, so large GETs do not churn the heap.
    const send = (chunk: Uint8Array) => new Promise<void>((resolve, reject) => {
      res.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length), (error) => (error ? reject(error) : resolve()));
    });
    try {
      if (!first.done) {
        await send(first.value);
        for await (const chunk of { [Symbol.asyncIterator]: () => chunks }) await send(chunk);
      }
      res.end();
    } catch (error) {
      // The status line is out: the only way left to say "failed" is a short body and a cut connection.
      if (!res.destroyed) request.log.error({ key: object.key, err: (error as Error).message, code: (error as { code?: string }).code }, 'read failed after the response began; connection cut');
      res.destroy();
    } finally {
      await chunks.return(undefined);
    }
  });

  app.put('/v1/objects/*', {
    schema: {
      tags: ['objects'],
      params: keyParams,
      response: { 200: putSchema, ...errors },
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

  // The CLI's operations, run here when the daemon owns the pool (see src/ops/).
  app.post('/v1/ops/:name', {
    schema: {
      tags: ['operations'],
      params: { type: 'object', properties: { name: { type: 'string', enum: Object.keys(OPS) } }, required: ['name'] },
      body: { type: 'object' },
    },
  }, async (request) => {
    const { name } = request.params as { name: string };
    request.log.info({ op: name }, 'operation');
    return runOp(engine, name, (request.body ?? {}) as OpParams);
  });

  // Long operations as jobs (see jobs.ts): start, then poll for progress and the result.
  const jobs = new Jobs(engine);
  // A stopping daemon lets running jobs end (within its shutdown grace period) before the pool closes.
  app.addHook('onClose', async () => jobs.settle());
  const jobSchema = open({ id: { type: 'string' }, op: { type: 'string' }, state: { type: 'string', enum: [...JOB_STATES] }, progress: { type: 'object', additionalProperties: true } }, ['id', 'op', 'state']);
  app.post('/v1/jobs', {
    schema: {
      tags: ['operations'],
      body: { type: 'object', properties: { op: { type: 'string', enum: Object.keys(OPS) }, params: { type: 'object' } }, required: ['op'], additionalProperties: false },
      response: { 202: jobSchema, ...errors },
    },
  }, async (request, reply) => {
    const { op, params } = request.body as { op: string; params?: OpParams };
    const job = jobs.start(op, params ?? {}, request.log);
    request.log.info({ job: job.id, op }, 'job started');
    return reply.code(202).send(job);
  });
  app.get('/v1/jobs', { schema: { tags: ['operations'], response: { 200: open({ jobs: { type: 'array', items: jobSchema } }, ['jobs']), ...errors } } }, async () => ({ jobs: jobs.list() }));
  app.get('/v1/jobs/:id', { schema: { tags: ['operations'], params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] }, response: { 200: jobSchema, ...errors } } }, async (request) => jobs.get((request.params as { id: string }).id));

  app.post('/v1/rebuild', { schema: { tags: ['pool'], response: { 200: open({ extentsNeedingRepair: { type: 'integer' }, extentsRepaired: { type: 'integer' } }), ...errors } } }, async (request) => {
    request.log.info('rebuild started');
    return runOp(engine, 'rebuild', {});
  });

  // The scrubber: status, control, intensity, schedule, problems, and one-shot passes.
  const scrubStatus = open({
    state: { type: 'string', enum: [...SCRUB_STATES] }, intensity: { type: 'string' }, schedule: { type: 'object', additionalProperties: true },
    pass: { anyOf: [{ type: 'object', additionalProperties: true }, { type: 'null' }] }, lastPass: { anyOf: [{ type: 'object', additionalProperties: true }, { type: 'null' }] },
    problems: { type: 'array', items: { type: 'object', additionalProperties: true } }, metrics: { type: 'object', additionalProperties: true },
  }, ['state', 'intensity', 'schedule', 'pass', 'lastPass', 'metrics']);
  const scrubRoute = { tags: ['scrub'], response: { 200: scrubStatus, ...errors } };
  const flag = { type: 'boolean' } as const;
  const rate = { anyOf: [{ type: 'integer' }, { type: 'string', maxLength: 32 }, { type: 'null' }] } as const;
  app.get('/v1/scrub/status', { schema: scrubRoute }, async () => runOp(engine, 'scrub-status', {}));
  for (const verb of ['start', 'stop', 'pause', 'resume'] as const) {
    app.post(`/v1/scrub/${verb}`, { schema: scrubRoute }, async (request) => {
      request.log.info({ verb }, 'scrub control');
      return runOp(engine, `scrub-${verb}`, {});
    });
  }
  app.put('/v1/scrub/intensity', {
    schema: { ...scrubRoute, body: { type: 'object', properties: { intensity: { type: 'string', enum: [...INTENSITIES] }, maxRate: rate }, required: ['intensity'], additionalProperties: false } },
  }, async (request) => runOp(engine, 'scrub-set-intensity', request.body as OpParams));
  app.get('/v1/scrub/schedule', { schema: { tags: ['scrub'], response: { 200: open({ frequency: { type: 'string' } }, ['frequency']), ...errors } } }, async () => (runOp(engine, 'scrub-status', {}) as Promise<{ schedule: unknown }>).then((s) => s.schedule));
  app.put('/v1/scrub/schedule', {
    schema: {
      ...scrubRoute,
      body: {
        type: 'object',
        properties: {
          frequency: { type: 'string', enum: [...FREQUENCIES] }, intensity: { type: 'string', enum: [...INTENSITIES] },
          dryRun: flag, autoRepair: flag, window: { type: 'string', maxLength: 11 }, maxRate: rate,
        },
        additionalProperties: false,
      },
    },
  }, async (request) => runOp(engine, 'scrub-schedule', request.body as OpParams));
  app.get('/v1/scrub/problems', { schema: { tags: ['scrub'], response: { 200: open({ problems: { type: 'array', items: { type: 'object', additionalProperties: true } }, total: { type: 'integer' } }, ['problems', 'total']), ...errors } } }, async () => {
    const status = (await runOp(engine, 'scrub-status', {})) as { problems: unknown[]; problemsTotal: number };
    return { problems: status.problems, total: status.problemsTotal };
  });
  app.post('/v1/scrub/run', {
    schema: {
      tags: ['scrub'],
      body: { type: 'object', properties: { repair: flag, dryRun: flag, errorsOnly: flag, intensity: { type: 'string', enum: [...INTENSITIES] }, maxRate: rate }, additionalProperties: false },
      response: { 200: open({ extentsScanned: { type: 'integer' }, issuesFound: { type: 'integer' }, extents: { type: 'object', additionalProperties: true }, problems: { type: 'array', items: { type: 'object', additionalProperties: true } } }), ...errors },
    },
  }, async (request) => {
    request.log.info({ options: request.body }, 'scrub pass requested');
    return runOp(engine, 'scrub', (request.body ?? {}) as OpParams);
  });

  const workerOptions = {
    type: 'object',
    properties: {
      minThreads: { type: 'integer' }, maxThreads: { type: 'integer' }, idleTimeoutMs: { type: 'integer' },
      concurrentTasksPerWorker: { type: 'integer' }, maxQueue: { type: 'integer' },
    },
    additionalProperties: false,
  } as const;
  app.get('/v1/workers', { schema: { tags: ['workers'], response: { 200: open({ minThreads: { type: 'integer' }, maxThreads: { type: 'integer' }, threads: { type: 'integer' }, queueSize: { type: 'integer' } }), ...errors } } }, async () => {
    const stats = engine.workers().stats();
    return { ...stats.options, threads: stats.threads, queueSize: stats.queueSize, utilization: stats.utilization, completed: stats.completed, variant: stats.variant };
  });
  app.put('/v1/workers', { schema: { tags: ['workers'], body: workerOptions, response: { 200: open({ maxThreads: { type: 'integer' } }), ...errors } } }, async (request) => {
    const applied = await engine.reconfigureWorkers(request.body as Record<string, number>);
    request.log.info({ workers: applied }, 'worker pool reconfigured');
    return applied;
  });

  return app;
}
