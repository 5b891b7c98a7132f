// The worker-pool knobs operators tune, their defaults, and the checks that
// name the bad option. Settled once when a pool is made (or re-made live).
import { availableParallelism } from 'node:os';
import { DfsError } from '../errors.js';

export interface WorkerPoolOptions {
  /** Threads kept alive when idle. */
  minThreads: number;
  /** Upper bound on threads; each holds one WASM instance (a few MiB). */
  maxThreads: number;
  /** An idle thread above minThreads exits after this long. */
  idleTimeoutMs: number;
  /**
   * Tasks handed to one thread at once. Tasks run one after another either way
   * (they are synchronous); 2 lets a thread start its next task without waiting
   * for the main thread to hand it over (measured: ~1.2x extent reads).
   */
  concurrentTasksPerWorker: number;
  /** Tasks allowed to wait; past it, submissions fail with DFS_ERR_WORKER_QUEUE_FULL. */
  maxQueue: number;
}

export function defaultWorkerPoolOptions(): WorkerPoolOptions {
  const cores = Math.max(1, availableParallelism());
  return { minThreads: 1, maxThreads: cores, idleTimeoutMs: 30_000, concurrentTasksPerWorker: 2, maxQueue: 1024 };
}

const LIMITS: Record<keyof WorkerPoolOptions, { min: number; max: number }> = {
  minThreads: { min: 0, max: 256 },
  maxThreads: { min: 1, max: 256 },
  idleTimeoutMs: { min: 0, max: 24 * 3600 * 1000 },
  concurrentTasksPerWorker: { min: 1, max: 64 },
  maxQueue: { min: 0, max: 1_000_000 },
};

/**
 * Merges `input` over `base` and checks every field. Errors name the option:
 * "workers.maxThreads must be an integer from 1 to 256 (got -1)".
 */
export function validateWorkerPoolOptions(input: unknown, base: WorkerPoolOptions = defaultWorkerPoolOptions(), prefix = 'workers'): WorkerPoolOptions {
  if (input === undefined || input === null) return { ...base };
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new DfsError('DFS_ERR_CONFIG_INVALID', `${prefix} must be an object`);
  }
  const merged: WorkerPoolOptions = { ...base };
  for (const [key, value] of Object.entries(input as Record<string, unknown>)) {
    if (!(key in LIMITS)) {
      throw new DfsError('DFS_ERR_CONFIG_INVALID', `${prefix}.${key} is not a worker pool option (known: ${Object.keys(LIMITS).join(', ')})`);
    }
    const { min, max } = LIMITS[key as keyof WorkerPoolOptions];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new DfsError('DFS_ERR_CONFIG_INVALID', `${prefix}.${key} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
    }
    merged[key as keyof WorkerPoolOptions] = value;
  }
  if (merged.minThreads > merged.maxThreads) {
    throw new DfsError('DFS_ERR_CONFIG_INVALID', `${prefix}.minThreads (${merged.minThreads}) must not exceed ${prefix}.maxThreads (${merged.maxThreads})`);
  }
  return merged;
}
