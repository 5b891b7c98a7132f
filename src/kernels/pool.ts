// The kernel worker pool: piscina running workers/kernel-worker, with typed
// task methods, coded errors, and the statistics the metrics layer exports.
//
//   caller ──task──▶ KernelPool.run ──piscina queue──▶ worker thread
//                     (extent on a SAB,                 (WASM instance,
//                      paths for files)                  reads files itself)
//   caller ◀─result── envelope unwrapped ◀──transfer──── parity / rebuilt bytes
//
// Each task is at least one whole extent: piscina costs ~40–60 µs per task,
// so smaller tasks would be dominated by the hand-off.
import { Piscina } from 'piscina';
import { DfsError, deserializeError, type SerializedError } from '../errors.js';
import { resolveVariant, type KernelChoice, type KernelVariant } from './loader.js';
import { validateWorkerPoolOptions, type WorkerPoolOptions } from './pool-options.js';
import { claimSlot, forgetThread } from './read-slots.js';
import { diskGate } from './disk-gate.js';
import type {
  EncodeResult, EncodeTask, KernelTask, ReadResult, ReadTask, KernelTaskResult, ReconstructResult, ReconstructTask, ScrubPageResult, ScrubPageTask,
  TaskEnvelope,
} from './tasks.js';

const WORKER_FILE = new URL('../../workers/kernel-worker.js', import.meta.url).href;

export interface KernelPoolStats {
  variant: KernelVariant;
  options: WorkerPoolOptions;
  threads: number;
  queueSize: number;
  /** Share of the pool's capacity spent running tasks since start (0..1). */
  utilization: number;
  completed: number;
  /** Milliseconds, piscina's histograms summarised. */
  runTimeMs: { mean: number; p50: number; p99: number };
  waitTimeMs: { mean: number; p50: number; p99: number };
}

/** A read result whose bytes are in a worker's read slot, with `data` viewing them and `release` freeing the slot. */
function claimed(result: ReadResult): ReadResult {
  if (!result.slot) return result;
  const { data, release } = claimSlot(result.slot);
  return { ...result, data, release, slot: undefined };
}

/** Copies `bytes` onto a SharedArrayBuffer unless they already live on one. */
export function toShared(bytes: Uint8Array): Uint8Array {
  if (bytes.buffer instanceof SharedArrayBuffer) return bytes;
  const shared = new Uint8Array(new SharedArrayBuffer(bytes.length));
  shared.set(bytes);
  return shared;
}

export class KernelPool {
  readonly variant: KernelVariant;
  private piscina: Piscina;
  private settings: WorkerPoolOptions;
  private closed = false;
  /** Called with each finished task's operation and its time from submission to result, in seconds. */
  onTaskDone: ((op: string, seconds: number) => void) | null = null;

  /** CPU niceness of this pool's threads (0: the process's own). */
  readonly niceness: number;

  /**
   * `niceness` lowers the CPU priority of this pool's threads alone (Linux,
   * per thread; elsewhere ignored): background work in its own pool then
   * yields the cores to the foreground pool and the event loop when they
   * compete, and runs at full speed when they do not.
   */
  constructor(options?: Partial<WorkerPoolOptions>, kernel: { variant?: KernelChoice; niceness?: number } = {}) {
    this.settings = validateWorkerPoolOptions(options);
    this.variant = resolveVariant(kernel.variant);
    this.niceness = kernel.niceness ?? 0;
    if (!Number.isInteger(this.niceness) || this.niceness < 0 || this.niceness > 19) {
      throw new DfsError('DFS_ERR_CONFIG_INVALID', `worker niceness must be an integer from 0 to 19 (got ${String(kernel.niceness)})`);
    }
    this.piscina = this.makePiscina(this.settings);
  }

  private makePiscina(options: WorkerPoolOptions): Piscina {
    const piscina = new Piscina({
      filename: WORKER_FILE,
      minThreads: options.minThreads,
      maxThreads: options.maxThreads,
      idleTimeout: options.idleTimeoutMs,
      concurrentTasksPerWorker: options.concurrentTasksPerWorker,
      maxQueue: options.maxQueue,
      // Every thread shares the process's per-disk read queue.
      workerData: { variant: this.variant, niceness: this.niceness, gate: diskGate().buffer },
      recordTiming: true,
      // Workers wait for tasks on their message port instead of Atomics.wait:
      // measured here, a round trip costs ~65 us this way against ~115 us with
      // the default 'sync', and pipelined tasks overlap better.
      atomics: 'disabled',
    });
    // A thread that stops (idle, or the pool closed) may leave a late read's slot held: its memory is let go.
    piscina.on('workerDestroy', (worker: { id: number }) => forgetThread(worker.id));
    return piscina;
  }

  get options(): WorkerPoolOptions {
    return { ...this.settings };
  }

  /**
   * Applies new options live: a fresh piscina takes new tasks at once while
   * the old one finishes what it holds and then exits.
   */
  async reconfigure(options: Partial<WorkerPoolOptions>): Promise<WorkerPoolOptions> {
    const next = validateWorkerPoolOptions(options, this.settings);
    if (this.closed) throw new DfsError('DFS_ERR_WORKER_CLOSED');
    const old = this.piscina;
    this.piscina = this.makePiscina(next);
    this.settings = next;
    await old.close();
    return { ...next };
  }

  /** Runs a task; the buffers in `transfer` move to the worker (they are detached here). */
  async run<T extends KernelTask>(task: T, transfer?: ArrayBuffer[]): Promise<KernelTaskResult<T>> {
    if (this.closed) throw new DfsError('DFS_ERR_WORKER_CLOSED');
    let envelope: TaskEnvelope<KernelTaskResult<T>>;
    const started = process.hrtime.bigint();
    try {
      envelope = await this.piscina.run(task, transfer?.length ? { transferList: transfer } : {});
      this.onTaskDone?.(task.op, Number(process.hrtime.bigint() - started) / 1e9);
    } catch (cause) {
      const message = cause instanceof Error ? cause.message : String(cause);
      if (/queue is at limit/i.test(message)) throw new DfsError('DFS_ERR_WORKER_QUEUE_FULL', `${this.settings.maxQueue} tasks waiting`, { cause });
      if (this.closed || /terminat|closed|destroy/i.test(message)) throw new DfsError('DFS_ERR_WORKER_CLOSED', undefined, { cause });
      throw new DfsError('DFS_ERR_WORKER_FAILED', message, { cause });
    }
    if (!envelope.ok) throw deserializeError(envelope.error);
    return envelope.value;
  }

  /** Encodes one extent; the bytes are shared with the worker, not copied to it. */
  encode(k: number, m: number, extent: Uint8Array, parityInto?: Uint8Array): Promise<EncodeResult> {
    const task: EncodeTask = { op: 'encode', k, m, extent: toShared(extent), ...(parityInto ? { parityInto } : {}) };
    return this.run(task);
  }

  reconstruct(task: Omit<ReconstructTask, 'op'>): Promise<ReconstructResult> {
    return this.run({ op: 'reconstruct', ...task });
  }

  /**
   * Reads one extent for a client; see ReadTask. An `into` on an ArrayBuffer
   * moves to the worker and its bytes come back on the same memory in
   * `data` (the view passed in is detached).
   */
  async read(task: Omit<ReadTask, 'op'>): Promise<ReadResult> {
    const buffer = task.into?.buffer;
    return claimed(await this.run({ op: 'read', ...task }, buffer instanceof ArrayBuffer ? [buffer] : undefined));
  }

  /**
   * Several reads in one hand-off (see read); one outcome per read, in
   * order. Each read's bytes are claimed, so each must be released.
   */
  async readMany(tasks: Omit<ReadTask, 'op'>[]): Promise<({ ok: true; value: ReadResult } | { ok: false; error: DfsError })[]> {
    const transfer = tasks.flatMap((t) => (t.into?.buffer instanceof ArrayBuffer ? [t.into.buffer] : []));
    const envelopes = (await this.run({ op: 'batch', tasks: tasks.map((t) => ({ op: 'read' as const, ...t })) }, transfer)) as TaskEnvelope<ReadResult>[];
    return envelopes.map((e) => (e.ok ? { ok: true as const, value: claimed(e.value) } : { ok: false as const, error: deserializeError((e as { error: SerializedError }).error) }));
  }

  /** Scrub checks of a packed page of extents; see ScrubPageTask. */
  scrubPage(task: Omit<ScrubPageTask, 'op'>): Promise<ScrubPageResult> {
    return this.run({ op: 'scrubPage', ...task });
  }

  stats(): KernelPoolStats {
    const p = this.piscina;
    const summary = (h: { mean: number; p50: number; p99: number } | undefined) => ({ mean: h?.mean ?? 0, p50: h?.p50 ?? 0, p99: h?.p99 ?? 0 });
    return {
      variant: this.variant,
      options: this.options,
      threads: p.threads.length,
      queueSize: p.queueSize,
      utilization: p.utilization,
      completed: p.completed,
      runTimeMs: summary(p.histogram.runTime),
      waitTimeMs: summary(p.histogram.waitTime),
    };
  }

  /** Waits for queued and running tasks, then stops every thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.piscina.close();
  }
}
