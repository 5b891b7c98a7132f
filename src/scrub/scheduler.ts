// The background scrubber's clock: a timer that asks, every tickMs, whether a
// pass is due under the schedule (schedule.ts holds the pure rules), whether
// a scheduled nightly pass has run out of window, and whether the pool is
// overdue for a complete pass.
import type { ScrubScheduleConfig } from '../pool/index.js';
import type { PassState, StopReason } from './pass.js';
import { currentWindow, isOverdue, nextRunAt, parseWindow } from './schedule.js';

export class Scheduler {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly poolId: string,
    private readonly config: () => ScrubScheduleConfig,
    private readonly clock: () => number,
  ) {}

  /** Calls `tick` every tickMs (none when 0: tests call tick themselves). */
  start(tickMs: number, tick: () => void): void {
    if (tickMs <= 0 || this.timer) return;
    this.timer = setInterval(tick, tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  nextRunAt(lastRunAt: number | null): number | null {
    return nextRunAt(this.config(), this.poolId, lastRunAt, this.clock());
  }

  isDue(lastRunAt: number | null): boolean {
    const due = this.nextRunAt(lastRunAt);
    return due !== null && this.clock() >= due;
  }

  overdue(lastCompletedAt: number | null): boolean {
    const config = this.config();
    const since = Date.parse(config.since);
    return isOverdue(config.frequency, lastCompletedAt, Number.isNaN(since) ? this.clock() : since, this.clock());
  }

  /** Nightly passes started by the schedule yield when their window closes (and resume in the next one). */
  windowClosed(pass: PassState): StopReason | null {
    const config = this.config();
    if (pass.trigger !== 'schedule' || config.frequency !== 'nightly') return null;
    return currentWindow(this.poolId, parseWindow(config.window), this.clock()) ? null : 'window';
  }
}
