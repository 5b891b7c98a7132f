// The scrubber's repair queue: findings become repairs here, started at most
// `ratePerSecond` per second and `concurrency` at a time, so that a burst of
// findings cannot starve foreground I/O. Each repair goes through
// repairExtent, which holds the extent's lock: a rebuild and a scrub never
// repair the same extent at once.
import { setTimeout as sleep } from 'node:timers/promises';
import type { EventOrigin } from '../catalog/index.js';
import type { Engine } from '../store/index.js';
import { repairExtent, type RepairResult } from '../store/index.js';

export class RepairQueue {
  private waiting: { extentId: string; origin: EventOrigin; resolve: (r: RepairResult) => void; reject: (e: unknown) => void }[] = [];
  /** Repairs waiting, by extent: a second request for one still waiting shares its outcome. */
  private readonly pending = new Map<string, Promise<RepairResult>>();
  private running = 0;
  private nextStart = 0;
  private pumping = false;

  constructor(
    private readonly engine: Engine,
    private readonly options: { ratePerSecond: () => number; concurrency?: number },
  ) {}

  /** Repairs waiting or running. */
  get length(): number {
    return this.waiting.length + this.running;
  }

  /** Queues an extent's repair; `origin` says what asked for it (the journal's trigger and job). */
  submit(extentId: string, origin: EventOrigin): Promise<RepairResult> {
    const waiting = this.pending.get(extentId);
    if (waiting) return waiting;
    const promise = new Promise<RepairResult>((resolve, reject) => {
      this.waiting.push({ extentId, origin, resolve, reject });
      void this.pump();
    });
    this.pending.set(extentId, promise);
    return promise;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.waiting.length > 0 && this.running < (this.options.concurrency ?? 2)) {
        const wait = this.nextStart - performance.now();
        if (wait > 0) await sleep(wait);
        const job = this.waiting.shift();
        if (!job) break;
        this.pending.delete(job.extentId);
        this.nextStart = performance.now() + 1000 / Math.max(0.001, this.options.ratePerSecond());
        this.running++;
        repairExtent(this.engine, job.extentId, { origin: job.origin })
          .then(job.resolve, job.reject)
          .finally(() => {
            this.running--;
            void this.pump();
          });
      }
    } finally {
      this.pumping = false;
    }
  }
}
