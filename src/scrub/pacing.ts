// How fast a pass goes: how many batches it keeps in the workers and how long
// it sleeps between them, from the intensity's table (intensity.ts), whether
// clients are idle, and the byte-rate cap.
import type { Engine } from '../store/index.js';
import { PACING, SCAN_IDLE_MS, type Intensity } from './intensity.js';

export class Pacer {
  private window: { started: number; bytes: number; cap: number | null };

  constructor(
    private readonly engine: Engine,
    private readonly intensity: () => Intensity,
    private readonly maxRate: () => number | null,
  ) {
    this.window = { started: performance.now(), bytes: 0, cap: maxRate() };
  }

  /** This round's settings: the batch size, batches in flight, and whether to send extents one by one. */
  round(): { batch: number; inFlight: number; oneByOne: boolean } {
    const pacing = PACING[this.intensity()];
    const idle = this.clientsIdle(pacing.pauseOnlyWhenBusy);
    return {
      batch: pacing.batch,
      inFlight: idle ? pacing.idleInFlight ?? pacing.inFlight : pacing.inFlight,
      oneByOne: pacing.oneByOne ?? (pacing.oneByOneWhenBusy === true && !idle),
    };
  }

  /** Bytes the pass has read, counted against the rate cap. */
  read(bytes: number): void {
    this.window.bytes += bytes;
  }

  /** How long to sleep before the next batch: the intensity's pause, longer when the rate cap needs it. */
  pauseMs(): number {
    const pacing = PACING[this.intensity()];
    const cap = this.maxRate();
    if (cap !== this.window.cap) this.window = { started: performance.now(), bytes: 0, cap };
    let wait = this.clientsIdle(pacing.pauseOnlyWhenBusy) ? 0 : pacing.sleepMs;
    if (cap) wait = Math.max(wait, (this.window.bytes / cap) * 1000 - (performance.now() - this.window.started));
    return wait;
  }

  private clientsIdle(onlyWhenBusy: boolean | undefined): boolean {
    return onlyWhenBusy === true && this.engine.foreground.idleMs() >= SCAN_IDLE_MS;
  }
}
