// The pool operations behind the CLI commands, by name, as data in and data
// out. This layer sits above both the store and the scrubber, which it
// drives; neither imports it. A command runs its operation here on a pool it opened itself, or, when
// a daemon owns the pool, the daemon runs the same operation (POST
// /v1/ops/<name>) on its own engine: one implementation, two ways in.
// Object bytes do not pass through here (put and get use the object routes).
import { DfsError, isDfsError, serializeError } from '../errors.js';
import { parsePolicy } from '../pool/index.js';
import {
  changeObjectPolicy, collectGarbage, deleteObject, drainDisk, listDisks, listExtents, objectSummary, objectView, poolHealth, poolStatus, probeDisks,
  rebuild, showRedundancy, type Engine,
} from '../store/index.js';
import { scrubService } from '../scrub/index.js';

export type Progress = (done: number, total: number | null) => void;
export type OpParams = Record<string, unknown>;
type Op = (engine: Engine, params: OpParams, progress?: Progress) => unknown;

function str(params: OpParams, name: string, required = true): string | undefined {
  const value = params[name];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string') throw new DfsError('DFS_ERR_PARAM_INVALID', `${name} must be a string`);
  return value;
}

function num(params: OpParams, name: string): number | undefined {
  const value = params[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new DfsError('DFS_ERR_PARAM_INVALID', `${name} must be a number`);
  return value;
}

export const OPS: Record<string, Op> = {
  status: (engine) => poolStatus(engine),
  health: (engine) => poolHealth(engine),
  'add-disk': (engine, p) => {
    const d = engine.addDisk(str(p, 'disk')!);
    return { id: d.id, path: d.path, state: d.state };
  },
  'remove-disk': (engine, p, progress) => drainDisk(engine, str(p, 'disk')!, progress),
  'fail-disk': (engine, p) => {
    const d = engine.setDiskState(str(p, 'disk')!, 'failed');
    return { id: d.id, path: d.path, state: d.state, extents: engine.catalog.extentCounts() };
  },
  'set-disk-health': (engine, p) => {
    const d = engine.setDiskState(str(p, 'disk')!, str(p, 'state')!);
    return { id: d.id, path: d.path, state: d.state };
  },
  'list-disks': (engine) => listDisks(engine),
  'probe-disks': (engine) => probeDisks(engine),
  ls: (engine, p) => {
    const limit = num(p, 'limit');
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new DfsError('DFS_ERR_PARAM_INVALID', 'limit must be a positive integer');
    const prefix = str(p, 'prefix', false);
    const after = str(p, 'after', false);
    const rows = engine.catalog.listObjects({ ...(prefix ? { prefix } : {}), ...(after ? { after } : {}), ...(limit ? { limit } : {}) });
    return { objects: rows.map(objectSummary) };
  },
  stat: (engine, p) => {
    const key = str(p, 'key')!;
    const v = objectView(engine, key);
    if (!v) throw new DfsError('DFS_ERR_OBJECT_NOT_FOUND', JSON.stringify(key));
    return v;
  },
  rm: async (engine, p) => {
    const r = await deleteObject(engine, str(p, 'key')!);
    return { key: r.key, deleted: true, size: r.size, extents: r.extents };
  },
  'list-extents': (engine, p) => {
    const key = str(p, 'key', false);
    return { extents: [...listExtents(engine, key === undefined ? {} : { key })] };
  },
  'show-redundancy': (engine) => showRedundancy(engine),
  'change-policy': async (engine, p, progress) => {
    const policyText = str(p, 'policy')!;
    const policy = parsePolicy(policyText);
    const key = str(p, 'key', false);
    if (Boolean(key) === Boolean(p.all)) throw new DfsError('DFS_ERR_PARAM_INVALID', 'give either a key or all');
    engine.checkPlaceable(policy);
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
  },
  rebuild: (engine, _p, progress) => rebuild(engine, progress),
  scrub: (engine, p, progress) => scrubService(engine).runOnce({
    repair: Boolean(p.repair), dryRun: Boolean(p.dryRun), errorsOnly: Boolean(p.errorsOnly), intensity: p.intensity, maxRate: p.maxRate,
    ...(progress ? { onProgress: progress } : {}),
  }),
  'scrub-status': (engine) => scrubService(engine).status(),
  'scrub-start': (engine) => scrubService(engine).start(),
  'scrub-stop': (engine) => scrubService(engine).stop(),
  'scrub-pause': (engine) => scrubService(engine).pause(),
  'scrub-resume': (engine) => scrubService(engine).resume(),
  'scrub-set-intensity': (engine, p) => scrubService(engine).setIntensity(p.intensity, p.maxRate),
  'scrub-schedule': (engine, p) => scrubService(engine).setSchedule(p),
  gc: (engine, p) => {
    const grace = num(p, 'grace');
    if (grace !== undefined && grace < 0) throw new DfsError('DFS_ERR_PARAM_INVALID', 'grace must be a number of seconds ≥ 0');
    return collectGarbage(engine, { dryRun: Boolean(p.dryRun), ...(grace !== undefined ? { graceSeconds: grace } : {}) });
  },
};

export async function runOp(engine: Engine, name: string, params: OpParams, progress?: Progress): Promise<unknown> {
  const op = Object.hasOwn(OPS, name) ? OPS[name] : undefined;
  if (!op) throw new DfsError('DFS_ERR_API_NOT_FOUND', `no operation "${name}"`);
  return op(engine, params, progress);
}
