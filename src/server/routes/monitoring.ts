// For monitors, without a token: /health (the status code carries the verdict)
// and /metrics (Prometheus text); and the OpenAPI document at /docs/json.
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { poolHealth, type Engine } from '../../store/index.js';
import { health } from '../schemas.js';

const HEALTH_STATUS = { healthy: 200, degraded: 202, critical: 503 } as const;

export async function monitoringRoutes(app: FastifyInstance, { engine, registry }: { engine: Engine; registry: Registry }): Promise<void> {
  app.get('/health', { schema: { tags: ['monitoring'], security: [], response: { 200: health, 202: health, 503: health } } }, async (_request, reply) => {
    const report = poolHealth(engine);
    return reply.code(HEALTH_STATUS[report.status]).send(report);
  });

  app.get('/metrics', { schema: { tags: ['monitoring'], security: [] }, config: { disableMetrics: false } }, async (_request, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics());
  });

  app.get('/docs/json', { schema: { hide: true } }, async () => app.swagger());
}
