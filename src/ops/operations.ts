// The pool operations behind the CLI commands, by name, as data in and data
// out. This layer sits above both the store and the scrubber, which it
// drives; neither imports it. A command runs its operation here on a pool it
// opened itself, or, when a daemon owns the pool, the daemon runs the same
// operation (POST /v1/ops/<name>, or as a job) on its own engine: one
// implementation, two ways in. Each operation declares the JSON schema of its
// parameters: `runOp` checks them with it, and the server hands the same
// schema to its routes, so both ways in refuse the same input.
// Object bytes do not pass through here (put and get use the object routes).
import { createRequire } from 'node:module';
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import { DfsError, isDfsError, serializeError } from '../errors.js';
import { parsePolicy } from '../pool/index.js';
import {
  changeObjectPolicy, collectGarbage, deleteObject, drainDisk, listDisks, listExtents, objectSummary, objectView, poolHealth, poolStatus, probeDisks,
  rebuild, showRedundancy, type Engine,
} from '../store/index.js';
import { scrubService } from '../scrub/index.js';
import { parseEventFilter } from './events.js';

export type Progress = (done: number, total: number | null) => void;
export type OpParams = Record<string, unknown>;

/** An operation: the JSON schema of its parameters, and what it does with them. */
export interface OpDefinition {
  summary: string;
  params: ParamsSchema;
  run: (engine: Engine, params: OpParams, progress?: Progress) => unknown;
}

export interface ParamsSchema {
  type: 'object';
  properties: Record<string, object>;
  required?: string[];
  additionalProperties: false;
}

const params = (properties: Record<string, object> = {}, required: string[] = []): ParamsSchema => ({ type: 'object', properties, required, additionalProperties: false });
const text = { type: 'string', minLength: 1, maxLength: 4096 } as const;
const flag = { type: 'boolean' } as const;
// Words the domain checks itself, with its own error codes (DFS_ERR_SCRUB_INTENSITY_INVALID, ...).
const word = { type: 'string', maxLength: 32 } as const;
// Given as a word on the command line ("true"), as a boolean through the API.
const flagOrWord = { anyOf: [flag, word] } as const;
const rate = { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', maxLength: 32 }, { type: 'null' }] } as const;
const intensity = word;
// A duration as a word ("7d", "36h") or a number of seconds.
const duration = { anyOf: [{ type: 'number', exclusiveMinimum: 0 }, word] } as const;
const diskParams = params({ disk: text }, ['disk']);
const keyParams = params({ key: text }, ['key']);

function op(summary: string, schema: ParamsSchema, run: OpDefinition['run']): OpDefinition {
  return { summary, params: schema, run };
}

const scrubControl = (summary: string, run: (engine: Engine) => unknown) => op(summary, params(), (engine) => run(engine));

export const OPS: Readonly<Record<string, OpDefinition>> = {
  status: op('pool summary: disks, objects, extents by state', params(), (engine) => poolStatus(engine)),
  health: op('health checks, as /health answers them', params(), (engine) => poolHealth(engine)),
  'add-disk': op('add a disk folder to the pool', diskParams, (engine, p) => {
    const d = engine.disks.add(p.disk as string);
    return { id: d.id, path: d.path, state: d.state };
  }),
  'remove-disk': op('drain a disk onto the others, then forget it', diskParams, (engine, p, progress) => drainDisk(engine, p.disk as string, progress)),
  'fail-disk': op('mark a disk failed (its fragments are rebuilt elsewhere)', diskParams, (engine, p) => {
    const d = engine.disks.setState(p.disk as string, 'failed');
    return { id: d.id, path: d.path, state: d.state, extents: engine.catalog.extentCounts() };
  }),
  'set-disk-health': op('set a disk\'s state', params({ disk: text, state: text }, ['disk', 'state']), (engine, p) => {
    const d = engine.disks.setState(p.disk as string, p.state as string);
    return { id: d.id, path: d.path, state: d.state };
  }),
  'list-disks': op('every disk with its state, capacity and use', params(), (engine) => listDisks(engine)),
  'probe-disks': op('write, read back and check a probe file on every disk', params(), (engine) => probeDisks(engine)),
  ls: op('objects in key order', params({ prefix: { type: 'string', maxLength: 4096 }, after: { type: 'string', maxLength: 4096 }, limit: { type: 'integer', minimum: 1 } }), (engine, p) => {
    const { prefix, after, limit } = p as { prefix?: string; after?: string; limit?: number };
    const rows = engine.catalog.listObjects({ ...(prefix ? { prefix } : {}), ...(after ? { after } : {}), ...(limit ? { limit } : {}) });
    return { objects: rows.map(objectSummary) };
  }),
  stat: op('one object with its extents and fragments', keyParams, (engine, p) => {
    const key = p.key as string;
    const v = objectView(engine, key);
    if (!v) throw new DfsError('DFS_ERR_OBJECT_NOT_FOUND', JSON.stringify(key));
    return v;
  }),
  rm: op('delete an object', keyParams, async (engine, p) => {
    const r = await deleteObject(engine, p.key as string);
    return { key: r.key, deleted: true, size: r.size, extents: r.extents };
  }),
  events: op('the repair journal: problems found, repairs, disk state changes (oldest first)', params({
    since: { type: 'string', maxLength: 64 }, after: { anyOf: [{ type: 'integer', minimum: 0 }, word] }, type: word, disk: text, key: { type: 'string', maxLength: 4096 },
    limit: { anyOf: [{ type: 'integer', minimum: 1 }, word] },
  }), (engine, p) => ({ events: engine.catalog.events(parseEventFilter(p, engine.config.disks)) })),
  'list-extents': op('extents with their fragments, of one object or all', params({ key: text }), (engine, p) => {
    const key = p.key as string | undefined;
    return { extents: [...listExtents(engine, key === undefined ? {} : { key })] };
  }),
  'show-redundancy': op('how many disk failures each policy in use survives', params(), (engine) => showRedundancy(engine)),
  'change-policy': op('re-encode one object (key) or every object (all) under a policy', params({ policy: { type: 'string', maxLength: 32 }, key: text, all: flag }, ['policy']), async (engine, p, progress) => {
    const policyText = p.policy as string;
    const policy = parsePolicy(policyText);
    const key = p.key as string | undefined;
    if (Boolean(key) === Boolean(p.all)) throw new DfsError('DFS_ERR_PARAM_INVALID', 'give either a key or all');
    engine.disks.checkPlaceable(policy);
    const keys = key !== undefined ? [key] : engine.catalog.listObjects().map((o) => o.key);
    const changed: { key: string; from: string; to: string; size: number }[] = [];
    // With --all, an object that cannot be moved (an unrecoverable extent, a write that fails) is
    // reported and skipped: the others are still re-encoded.
    const failed: { key: string; error: { code: string; message: string } }[] = [];
    let unchanged = 0;
    for (const [i, k] of keys.entries()) {
      const current = engine.catalog.object(k);
      if (current && current.policy === policyText.trim() && key === undefined) unchanged++;
      else {
        try {
          const r = await changeObjectPolicy(engine, k, policy);
          changed.push({ key: k, from: r.previousPolicy, to: r.policy, size: r.size });
        } catch (error) {
          if (key !== undefined) throw error;
          if (isDfsError(error, 'DFS_ERR_OBJECT_NOT_FOUND')) continue; // deleted meanwhile: nothing to move
          const { code, message } = serializeError(error);
          failed.push({ key: k, error: { code, message } });
        }
      }
      progress?.(i + 1, keys.length);
    }
    return { policy: policyText, changed, unchanged, failed };
  }),
  rebuild: op('re-create every missing or bad fragment onto healthy disks', params(), (engine, _p, progress) => rebuild(engine, progress)),
  scrub: op('one scrub pass now', params({ repair: flag, dryRun: flag, errorsOnly: flag, light: flag, olderThan: duration, intensity, maxRate: rate }), (engine, p, progress) => scrubService(engine).runOnce({
    repair: Boolean(p.repair), dryRun: Boolean(p.dryRun), errorsOnly: Boolean(p.errorsOnly), light: Boolean(p.light), olderThan: p.olderThan, intensity: p.intensity, maxRate: p.maxRate,
    ...(progress ? { onProgress: progress } : {}),
  })),
  'scrub-status': scrubControl('the background scrubber\'s state, pass, schedule and problems', (engine) => scrubService(engine).status()),
  'scrub-start': scrubControl('start the background scrubber', (engine) => scrubService(engine).start()),
  'scrub-stop': scrubControl('stop the background scrubber', (engine) => scrubService(engine).stop()),
  'scrub-pause': scrubControl('pause the running pass', (engine) => scrubService(engine).pause()),
  'scrub-resume': scrubControl('resume a paused pass', (engine) => scrubService(engine).resume()),
  'scrub-set-intensity': op('the background scrubber\'s speed', params({ intensity, maxRate: rate }, ['intensity']), (engine, p) => scrubService(engine).setIntensity(p.intensity, p.maxRate)),
  'scrub-schedule': op('when the background scrubber runs (only the fields given change)', params({
    frequency: word, intensity, dryRun: flagOrWord, autoRepair: flagOrWord, window: word, maxRate: rate,
    verifyWithin: { anyOf: [duration, { type: 'null' }] }, maxLoad: { anyOf: [{ type: 'number' }, word, { type: 'null' }] },
    diskMaxRate: rate, diskInFlight: { anyOf: [{ type: 'integer' }, word, { type: 'null' }] },
  }), (engine, p) => scrubService(engine).setSchedule(p)),
  gc: op('remove orphaned fragments and temporary files older than the grace period', params({ dryRun: flag, grace: { type: 'number', minimum: 0 } }), (engine, p) => {
    const grace = p.grace as number | undefined;
    return collectGarbage(engine, { dryRun: Boolean(p.dryRun), ...(grace !== undefined ? { graceSeconds: grace } : {}) });
  }),
};

// ajv loads on the first check, not with every command (it took 28 ms of each CLI start).
let ajv: Ajv | null = null;
function validator(): Ajv {
  if (!ajv) {
    const { Ajv: AjvClass } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
    ajv = new AjvClass({ allErrors: false, coerceTypes: false, useDefaults: false });
  }
  return ajv;
}
const validators = new Map<string, ValidateFunction>();

function describe(error: ErrorObject): string {
  const field = error.instancePath.replace(/^\//, '').replaceAll('/', '.');
  if (error.keyword === 'additionalProperties') return `unknown parameter "${String(error.params.additionalProperty)}"`;
  if (error.keyword === 'required') return `${String(error.params.missingProperty)} is required`;
  if (error.keyword === 'enum') return `${field} must be one of ${(error.params.allowedValues as unknown[]).join(', ')}`;
  return `${field || 'the parameters'} ${error.message ?? 'are not valid'}`;
}

/** Checks an operation's parameters against its schema: DFS_ERR_PARAM_INVALID naming the first wrong one. */
export function checkParams(name: string, given: OpParams): void {
  let validate = validators.get(name);
  if (!validate) validators.set(name, (validate = validator().compile(OPS[name]!.params)));
  if (!validate(given)) throw new DfsError('DFS_ERR_PARAM_INVALID', `${name}: ${describe(validate.errors![0]!)}`);
}

export async function runOp(engine: Engine, name: string, given: OpParams, progress?: Progress): Promise<unknown> {
  const op = Object.hasOwn(OPS, name) ? OPS[name] : undefined;
  if (!op) throw new DfsError('DFS_ERR_API_NOT_FOUND', `no operation "${name}"`);
  checkParams(name, given);
  return op.run(engine, given, progress);
}
