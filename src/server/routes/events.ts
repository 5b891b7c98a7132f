// /v1/events: the repair journal, with the filters of `dynamicfs events`.
// A JSON list by default; with `follow=true` (or `Accept: text/event-stream`)
// a Server-Sent Events stream: the matching events, then each new one as it
// is written, each with its id, so that a client that reconnects with
// Last-Event-ID misses nothing the journal still holds.
import type { FastifyInstance } from 'fastify';
import type { PoolEvent } from '../../catalog/index.js';
import { followEvents, parseEventFilter, type EventParams } from '../../ops/index.js';
import type { Engine } from '../../store/index.js';
import { errors, open } from '../schemas.js';

/** How often an idle stream says it is alive. */
const HEARTBEAT_MS = 15_000;

const query = {
  type: 'object',
  properties: {
    since: { type: 'string', maxLength: 64 }, after: { type: 'string', maxLength: 20 }, type: { type: 'string', maxLength: 32 },
    disk: { type: 'string', maxLength: 4096 }, key: { type: 'string', maxLength: 4096 }, limit: { type: 'string', maxLength: 12 },
    follow: { type: 'string', enum: ['true', 'false', '1', '0'] },
  },
  additionalProperties: false,
} as const;

function sse(e: PoolEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}

export async function eventRoutes(app: FastifyInstance, { engine }: { engine: Engine }): Promise<void> {
  // Streams end when the server closes (they would hold its close open otherwise).
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.get('/v1/events', {
    schema: {
      tags: ['events'], summary: 'the repair journal, oldest first; follow=true streams new events (Server-Sent Events)', querystring: query,
      response: { 200: open({ events: { type: 'array', items: { type: 'object', additionalProperties: true } } }, ['events']), ...errors },
    },
  }, async (request, reply) => {
    const { follow, ...params } = request.query as EventParams & { follow?: string };
    const lastEventId = request.headers['last-event-id'];
    if (typeof lastEventId === 'string' && /^\d+$/.test(lastEventId)) params.after = lastEventId;
    const filter = parseEventFilter(params, engine.config.disks);
    const streaming = follow === 'true' || follow === '1' || (follow === undefined && (request.headers.accept ?? '').includes('text/event-stream'));
    if (!streaming) return { events: engine.catalog.events(filter) };

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    let closed = false;
    res.on('close', () => {
      closed = true;
    });
    res.write('retry: 1000\n\n');
    let quietSince = Date.now();
    try {
      for await (const batch of followEvents((f) => engine.catalog.events(f), filter, () => closed || closing)) {
        if (batch.length) {
          res.write(batch.map(sse).join(''));
          quietSince = Date.now();
        } else if (Date.now() - quietSince > HEARTBEAT_MS) {
          res.write(': alive\n\n');
          quietSince = Date.now();
        }
      }
    } catch {
      // The catalogue closed under us: the daemon is stopping.
    }
    res.end();
    return reply;
  });
}
