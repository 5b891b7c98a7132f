// The CLI's operations run here when the daemon owns the pool: one route per
// operation (POST /v1/ops/<name>), its body checked against that operation's
// own parameter schema; long ones as jobs (see ../jobs.ts); and the pool's
// plain views.
import type { FastifyInstance } from 'fastify';
import { OPS, runOp, type OpParams } from '../../ops/index.js';
import type { Engine } from '../../store/index.js';
import { Jobs } from '../jobs.js';
import { disk, errors, job, jobRequest, open } from '../schemas.js';

export async function operationRoutes(app: FastifyInstance, { engine }: { engine: Engine }): Promise<void> {
  app.get('/v1/status', { schema: { tags: ['pool'], response: { 200: open({ poolId: { type: 'string' }, objects: { type: 'integer' }, extents: { type: 'object', additionalProperties: true } }), ...errors } } }, async () => runOp(engine, 'status', {}));
  app.get('/v1/disks', { schema: { tags: ['disks'], response: { 200: open({ disks: { type: 'array', items: disk } }, ['disks']), ...errors } } }, async () => runOp(engine, 'list-disks', {}));

  for (const [name, op] of Object.entries(OPS)) {
    app.post(`/v1/ops/${name}`, { schema: { tags: ['operations'], summary: op.summary, body: op.params, response: errors } }, async (request) => {
      request.log.info({ op: name }, 'operation');
      return runOp(engine, name, (request.body ?? {}) as OpParams);
    });
  }

  // Long operations as jobs: start, then poll for progress and the result.
  const jobs = new Jobs(engine);
  // A stopping daemon lets running jobs end (within its shutdown grace period) before the pool closes.
  app.addHook('onClose', async () => jobs.settle());
  app.post('/v1/jobs', { schema: { tags: ['operations'], body: jobRequest, response: { 202: job, ...errors } } }, async (request, reply) => {
    const { op, params } = request.body as { op: string; params?: OpParams };
    const started = jobs.start(op, params ?? {}, request.log);
    request.log.info({ job: started.id, op }, 'job started');
    return reply.code(202).send(started);
  });
  app.get('/v1/jobs', { schema: { tags: ['operations'], response: { 200: open({ jobs: { type: 'array', items: job } }, ['jobs']), ...errors } } }, async () => ({ jobs: jobs.list() }));
  app.get('/v1/jobs/:id', { schema: { tags: ['operations'], params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] }, response: { 200: job, ...errors } } }, async (request) => jobs.get((request.params as { id: string }).id));

  app.post('/v1/rebuild', { schema: { tags: ['pool'], response: { 200: open({ extentsNeedingRepair: { type: 'integer' }, extentsRepaired: { type: 'integer' } }), ...errors } } }, async (request) => {
    request.log.info('rebuild started');
    return runOp(engine, 'rebuild', {});
  });
}
