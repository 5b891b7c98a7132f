// /v1/scrub: the scrubber's status, control, intensity, schedule, problems,
// and one-shot passes, each the operation of the same name.
import type { FastifyInstance } from 'fastify';
import { runOp, type OpParams } from '../../ops/index.js';
import type { Engine } from '../../store/index.js';
import { errors, flag, frequency, intensity, open, passSummary, rate, scrubStatus } from '../schemas.js';

export async function scrubRoutes(app: FastifyInstance, { engine }: { engine: Engine }): Promise<void> {
  const scrubRoute = { tags: ['scrub'], response: { 200: scrubStatus, ...errors } };
  app.get('/v1/scrub/status', { schema: scrubRoute }, async () => runOp(engine, 'scrub-status', {}));
  for (const verb of ['start', 'stop', 'pause', 'resume'] as const) {
    app.post(`/v1/scrub/${verb}`, { schema: scrubRoute }, async (request) => {
      request.log.info({ verb }, 'scrub control');
      return runOp(engine, `scrub-${verb}`, {});
    });
  }
  app.put('/v1/scrub/intensity', {
    schema: { ...scrubRoute, body: { type: 'object', properties: { intensity, maxRate: rate }, required: ['intensity'], additionalProperties: false } },
  }, async (request) => runOp(engine, 'scrub-set-intensity', request.body as OpParams));
  app.get('/v1/scrub/schedule', { schema: { tags: ['scrub'], response: { 200: open({ frequency: { type: 'string' } }, ['frequency']), ...errors } } }, async () => (runOp(engine, 'scrub-status', {}) as Promise<{ schedule: unknown }>).then((s) => s.schedule));
  app.put('/v1/scrub/schedule', {
    schema: {
      ...scrubRoute,
      body: {
        type: 'object',
        properties: {
          frequency, intensity, dryRun: flag, autoRepair: flag, window: { type: 'string', maxLength: 11 }, maxRate: rate,
          verifyWithin: { anyOf: [{ type: 'number', exclusiveMinimum: 0 }, { type: 'string', maxLength: 32 }, { type: 'null' }] },
          maxLoad: { anyOf: [{ type: 'number', exclusiveMinimum: 0 }, { type: 'string', maxLength: 32 }, { type: 'null' }] },
          diskMaxRate: rate,
          diskInFlight: { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', maxLength: 32 }, { type: 'null' }] },
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
      body: { type: 'object', properties: { repair: flag, dryRun: flag, errorsOnly: flag, light: flag, olderThan: { anyOf: [{ type: 'number', exclusiveMinimum: 0 }, { type: 'string', maxLength: 32 }] }, intensity, maxRate: rate }, additionalProperties: false },
      response: { 200: passSummary, ...errors },
    },
  }, async (request) => {
    request.log.info({ options: request.body }, 'scrub pass requested');
    return runOp(engine, 'scrub', (request.body ?? {}) as OpParams);
  });
}
