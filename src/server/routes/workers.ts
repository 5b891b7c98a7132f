// /v1/workers: the kernel worker pool's size and load, and resizing it live.
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../../store/index.js';
import { errors, open, workerOptions } from '../schemas.js';

export async function workerRoutes(app: FastifyInstance, { engine }: { engine: Engine }): Promise<void> {
  app.get('/v1/workers', { schema: { tags: ['workers'], response: { 200: open({ minThreads: { type: 'integer' }, maxThreads: { type: 'integer' }, threads: { type: 'integer' }, queueSize: { type: 'integer' } }), ...errors } } }, async () => {
    const stats = engine.workers().stats();
    return { ...stats.options, threads: stats.threads, queueSize: stats.queueSize, utilization: stats.utilization, completed: stats.completed, variant: stats.variant };
  });
  app.put('/v1/workers', { schema: { tags: ['workers'], body: workerOptions, response: { 200: open({ maxThreads: { type: 'integer' } }), ...errors } } }, async (request) => {
    const applied = await engine.pools.reconfigure(request.body as Record<string, number>);
    request.log.info({ workers: applied }, 'worker pool reconfigured');
    return applied;
  });
}
