// The engine's two kernel worker pools, each started on first use: the
// foreground pool for clients' reads and writes, and the scrubber's own pool
// (same options), whose threads run at a lower CPU priority, so that a
// client's work never queues behind a scrub check in a worker, and when the
// two compete for the cores the scheduler gives the clients' threads the
// time. On an idle pool the scrubber still gets every core.
import { DfsError } from '../errors.js';
import { KernelPool, type WorkerPoolOptions } from '../kernels/index.js';

/** CPU niceness of the background (scrub) workers: under contention they get about a tenth of a foreground thread's share (CFS weights 110 against 1024). */
const BACKGROUND_NICENESS = 10;

type TaskObserver = (op: string, seconds: number) => void;

export class WorkerPools {
  private foregroundPool: KernelPool | null = null;
  private backgroundPool: KernelPool | null = null;
  private observer: TaskObserver | null = null;
  private closed = false;

  constructor(private readonly options: Partial<WorkerPoolOptions> | undefined) {}

  /** The pool for clients' reads and writes, repairs and rebuilds. */
  foreground(): KernelPool {
    if (this.closed) throw new DfsError('DFS_ERR_WORKER_CLOSED');
    if (!this.foregroundPool) {
      this.foregroundPool = new KernelPool(this.options);
      this.foregroundPool.onTaskDone = this.observer;
    }
    return this.foregroundPool;
  }

  /** The scrubber's pool, at lower CPU priority, with the foreground pool's current options. */
  background(): KernelPool {
    if (this.closed) throw new DfsError('DFS_ERR_WORKER_CLOSED');
    if (!this.backgroundPool) {
      this.backgroundPool = new KernelPool(this.foregroundPool?.options ?? this.options, { niceness: BACKGROUND_NICENESS });
      this.backgroundPool.onTaskDone = this.observer;
    }
    return this.backgroundPool;
  }

  /** The pools started so far (metrics read only these: reading one must not start it). */
  started(): { foreground: KernelPool | null; background: KernelPool | null } {
    return { foreground: this.foregroundPool, background: this.backgroundPool };
  }

  /** Called with every finished task of either pool: its operation and its time from submission to result, in seconds. */
  observe(observer: TaskObserver): void {
    this.observer = observer;
    if (this.foregroundPool) this.foregroundPool.onTaskDone = observer;
    if (this.backgroundPool) this.backgroundPool.onTaskDone = observer;
  }

  /** Applies options live to both pools. */
  async reconfigure(options: Partial<WorkerPoolOptions>): Promise<WorkerPoolOptions> {
    const applied = await this.foreground().reconfigure(options);
    await this.backgroundPool?.reconfigure(applied);
    return applied;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.foregroundPool?.close(), this.backgroundPool?.close()]);
  }

  /** Marks the pools closed without waiting for their threads (the engine's closeNow). */
  abandon(): void {
    this.closed = true;
  }
}
