// The JSON schemas the routes share, built from the domain constants (states,
// intensities, frequencies, the operations table) so that a new value there
// is a new value here. Response schemas document the shapes (OpenAPI at
// /docs/json) and keep every field: extra ones pass through.
import { OPS } from '../ops/index.js';
import { FREQUENCIES, INTENSITIES, SCRUB_STATES } from '../scrub/index.js';
import { HEALTH_STATUSES } from '../store/index.js';
import { JOB_STATES } from './jobs.js';

export const open = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', properties, required, additionalProperties: true }) as const;
const anyObject = { type: 'object', additionalProperties: true } as const;
const nullable = (schema: object) => ({ anyOf: [schema, { type: 'null' }] });

export const errorSchema = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } }, required: ['code', 'message'] } },
} as const;
/** The error answers every /v1 route may give. */
export const errors = { 400: errorSchema, 401: errorSchema, 404: errorSchema, 409: errorSchema, 500: errorSchema, 503: errorSchema } as const;

/** An object key: the rest of the URL path, as data. */
export const keyParams = { type: 'object', properties: { '*': { type: 'string', minLength: 1, maxLength: 4096 } }, required: ['*'] } as const;

export const putResult = open({ key: { type: 'string' }, size: { type: 'integer' }, policy: { type: 'string' }, extents: { type: 'integer' }, checksum: { type: 'string' }, replaced: { type: 'boolean' } }, ['key', 'size', 'policy', 'extents', 'checksum']);
export const health = open({ status: { type: 'string', enum: [...HEALTH_STATUSES] }, message: { type: 'string' }, timestamp: { type: 'string' }, checks: anyObject }, ['status', 'message', 'timestamp', 'checks']);
export const disk = open({ id: { type: 'string' }, path: { type: 'string' }, state: { type: 'string' }, capacityBytes: { type: 'integer' }, usedBytes: { type: 'integer' }, fragments: { type: 'integer' } });

export const job = open({ id: { type: 'string' }, op: { type: 'string' }, state: { type: 'string', enum: [...JOB_STATES] }, progress: anyObject }, ['id', 'op', 'state']);

/**
 * A job's body, `{op, params}`: params are checked against that operation's
 * own schema (one if/then per operation, so an error names the wrong field
 * rather than listing every operation it did not match).
 */
export const jobRequest = {
  type: 'object',
  properties: { op: { type: 'string', enum: Object.keys(OPS) }, params: { type: 'object' } },
  required: ['op'],
  additionalProperties: false,
  allOf: Object.entries(OPS).map(([name, op]) => ({ if: { properties: { op: { const: name } } }, then: { properties: { params: op.params } } })),
} as const;

export const flag = { type: 'boolean' } as const;
export const rate = { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', maxLength: 32 }, { type: 'null' }] } as const;
export const intensity = { type: 'string', enum: [...INTENSITIES] } as const;
export const frequency = { type: 'string', enum: [...FREQUENCIES] } as const;

export const scrubStatus = open({
  state: { type: 'string', enum: [...SCRUB_STATES] }, intensity: { type: 'string' }, schedule: anyObject,
  pass: nullable(anyObject), lastPass: nullable(anyObject),
  problems: { type: 'array', items: anyObject }, metrics: anyObject,
}, ['state', 'intensity', 'schedule', 'pass', 'lastPass', 'metrics']);

export const passSummary = open({ extentsScanned: { type: 'integer' }, issuesFound: { type: 'integer' }, extents: anyObject, problems: { type: 'array', items: anyObject } });

export const workerOptions = {
  type: 'object',
  properties: {
    minThreads: { type: 'integer' }, maxThreads: { type: 'integer' }, idleTimeoutMs: { type: 'integer' },
    concurrentTasksPerWorker: { type: 'integer' }, maxQueue: { type: 'integer' },
  },
  additionalProperties: false,
} as const;
