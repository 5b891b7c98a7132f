// The fastify application: /health and /metrics for monitors, /v1 for
// operators and programs (bearer token, JSON schemas, OpenAPI at /docs/json),
// errors as {"error":{"code","message"}} with the registry's status and no
// internals. Built from plugins: errors and auth apply to every route; each
// area's routes are a module of their own under routes/.
import Fastify from 'fastify';
import fastifyMetricsModule from 'fastify-metrics';
import swagger from '@fastify/swagger';
import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { Logger } from '../log/index.js';
import type { Engine } from '../store/index.js';
import { authPlugin } from './auth.js';
import { clientErrorHandler, errorsPlugin, frameworkErrors } from './errors.js';
import { OneLineRequestLog } from './request-log.js';
import { monitoringRoutes } from './routes/monitoring.js';
import { objectRoutes } from './routes/objects.js';
import { operationRoutes } from './routes/operations.js';
import { eventRoutes } from './routes/events.js';
import { scrubRoutes } from './routes/scrub.js';
import { workerRoutes } from './routes/workers.js';

export { tokenMatches } from './auth.js';

export interface AppOptions {
  engine: Engine;
  registry: Registry;
  token: string;
  logger: Logger;
  /** Largest JSON body accepted (object bodies are streamed, not limited). */
  bodyLimit?: number;
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
    frameworkErrors,
    clientErrorHandler,
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
  // Clients' object requests, timed for the scrubber at `auto` (it keeps their latency from rising).
  app.addHook('onResponse', async (request, reply) => {
    if (request.url.startsWith('/v1/objects/')) engine.foreground.request(reply.elapsedTime);
  });
  await app.register(errorsPlugin);
  await app.register(authPlugin, { token });

  // Object bodies are streams of bytes whatever their content type; JSON routes keep fastify's JSON parser.
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

  await app.register(monitoringRoutes, { engine, registry });
  await app.register(objectRoutes, { engine });
  await app.register(operationRoutes, { engine });
  await app.register(scrubRoutes, { engine });
  await app.register(eventRoutes, { engine });
  await app.register(workerRoutes, { engine });
  return app;
}
