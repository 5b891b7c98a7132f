// The `auto` intensity: scrub as fast as the disks allow while clients are
// idle, and while they are not, only as fast as leaves their latency where
// it would be without the scrubber.
//
// Why AIMD on a measured baseline. The quantity to hold is the clients' p99,
// and the only honest reference is that same p99 with the scrubber stopped,
// under the load of the moment (more clients, bigger objects: a higher p99
// that is not the scrubber's doing). So the controller measures it: when
// load arrives, and every PROBE_EVERY_MS under load, it stops the scrubber
// for PROBE_MS and takes the clients' p99 over that stretch as the baseline
// (as BBR probes for its minimum RTT). Between probes it compares each
// control window's p99 with the baseline: above it by more than TOLERANCE,
// the scrub level halves; otherwise it grows by a small step. Halving acts at
// once on a rise and the small steps find the level the clients tolerate;
// a PI controller would need gains tuned to each pool's disks and load,
// where AIMD needs none and cannot overshoot by more than one step.
// The level is the scrubber's share of its full speed: a duty cycle (the
// pacer pauses after each extent's check for as long as the check took, times
// 1/level - 1).
//
// Load comes and goes: at the first client operation after an idle spell the
// level drops at once to where the last busy spell left it (ZFS keeps scrub
// I/O at its minimum depth while interactive I/O is outstanding); after
// IDLE_MS with no client operation it goes back to full speed.
import { quantile } from '../store/index.js';

export const AUTO = {
  /** How often the level is revised under load. */
  CONTROL_MS: 500,
  /** The stretch of latencies each revision looks at. */
  WINDOW_MS: 2000,
  /** Clients quiet this long: full speed. */
  IDLE_MS: 500,
  /** How far the clients' p99 may rise over its value without scrubbing. */
  TOLERANCE: 0.05,
  /** The lowest level under load (a duty cycle of 1/64: the scrub still moves). */
  MIN_LEVEL: 1 / 64,
  /** The level load starts at before anything is known. */
  FIRST_BUSY_LEVEL: 1 / 16,
  /** Added to the level each revision that found the clients within tolerance. */
  STEP: 1 / 64,
  /** How often, under load, the baseline is measured again, and for how long. */
  PROBE_EVERY_MS: 30_000,
  PROBE_MS: 1000,
  /** Latencies a decision needs (fewer: the level holds). */
  MIN_SAMPLES: 20,
} as const;

export interface AutoSignals {
  /** Now, on the same clock as the latencies (ms). */
  now: number;
  /** Ms since a client operation last ended (0 while one runs). */
  idleMs: number;
  /** Clients' latencies (ms) of operations that ended within the last `windowMs`. */
  latencies(windowMs: number): number[];
}

export interface AutoState {
  /** The scrubber's share of full speed now (0 while the baseline is measured). */
  level: number;
  busy: boolean;
  probing: boolean;
  /** The clients' p99 without scrubbing, last measured (ms). */
  baselineP99Ms: number | null;
  /** The clients' p99 over the last window (ms). */
  p99Ms: number | null;
}

export class AutoController {
  private level = 1;
  private busy = false;
  private busyLevel: number = AUTO.FIRST_BUSY_LEVEL;
  private baseline: number | null = null;
  private baselineAt = Number.NEGATIVE_INFINITY;
  private probeStarted: number | null = null;
  /** Latencies from before this time are not judged (they were the probe's, or from before the level changed). */
  private judgeFrom = Number.NEGATIVE_INFINITY;
  private lastRevision = Number.NEGATIVE_INFINITY;
  private lastP99: number | null = null;

  /** Revises the level from the signals; call it before each scrub batch (it is cheap between revisions). */
  update(s: AutoSignals): AutoState {
    const busy = s.idleMs < AUTO.IDLE_MS;
    if (!busy) {
      if (this.busy) this.busyLevel = Math.max(AUTO.MIN_LEVEL, Math.min(this.level, 1));
      this.busy = false;
      this.level = 1;
      this.probeStarted = null;
      return this.state();
    }
    if (!this.busy) {
      // Load has arrived: back off at once, to where the last busy spell ended.
      this.busy = true;
      this.level = this.busyLevel;
      this.judgeFrom = s.now;
      this.lastRevision = s.now;
    }
    if (this.probeStarted !== null) {
      const probed = s.now - this.probeStarted;
      if (probed < AUTO.PROBE_MS) return this.state();
      const samples = s.latencies(probed);
      // Too few requests to tell: the probe goes on a while (up to three times as long), then gives up until the next.
      if (samples.length < AUTO.MIN_SAMPLES && probed < 3 * AUTO.PROBE_MS) return this.state();
      if (samples.length >= AUTO.MIN_SAMPLES) this.baseline = quantile(samples, 0.99);
      this.baselineAt = s.now;
      this.probeStarted = null;
      this.judgeFrom = s.now;
      this.lastRevision = s.now;
      return this.state();
    }
    if (s.now - this.baselineAt >= AUTO.PROBE_EVERY_MS) {
      this.probeStarted = s.now;
      return this.state();
    }
    if (s.now - this.lastRevision < AUTO.CONTROL_MS) return this.state();
    this.lastRevision = s.now;
    const samples = s.latencies(Math.min(AUTO.WINDOW_MS, s.now - this.judgeFrom));
    if (samples.length < AUTO.MIN_SAMPLES || this.baseline === null) return this.state();
    this.lastP99 = quantile(samples, 0.99);
    if (this.lastP99! > this.baseline * (1 + AUTO.TOLERANCE)) {
      this.level = Math.max(AUTO.MIN_LEVEL, this.level / 2);
      // The window still holds latencies from the higher level: judge the new one on its own.
      this.judgeFrom = s.now;
    } else this.level = Math.min(1, this.level + AUTO.STEP);
    return this.state();
  }

  state(): AutoState {
    return {
      level: this.probeStarted !== null ? 0 : this.level, busy: this.busy, probing: this.probeStarted !== null,
      baselineP99Ms: this.baseline, p99Ms: this.lastP99,
    };
  }
}
