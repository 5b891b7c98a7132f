// How fast a pass goes: how many batches it keeps in the workers, how big
// they are and how long it sleeps between them. At low, medium and high that
// is the intensity's table (intensity.ts) and whether clients are idle; at
// `auto` it is the controller's level (auto.ts). On top: a byte-rate ceiling
// (the operator's --max-rate, and the rate a --verify-within deadline asks
// for, whichever is lower) kept by a token bucket, and the load gate
// (--max-load): while the host's load is over it, background passes wait.
import { loadavg, availableParallelism } from 'node:os';
import type { Engine } from '../store/index.js';
import { AutoController, type AutoState } from './auto.js';
import { PACING, SCAN_IDLE_MS, type Intensity } from './intensity.js';

export interface PaceInputs {
  intensity(): Intensity;
  maxRate(): number | null;
  /** The rate a deadline asks for (bytes/s), or null. */
  targetRate?(): number | null;
  /** The load gate: 1-minute load average per CPU above which background passes wait (null: none). */
  maxLoad?(): number | null;
  /** A byte-rate cap on the reads from any one disk (null: none). */
  diskMaxRate?(): number | null;
}

/** Settings at `auto` while clients are idle: the same as high's on an idle pool. */
const AUTO_IDLE = { batch: 20, inFlight: 4 };

/** A pause at `auto` is at most this long (the controller is asked again after it). */
const MAX_AUTO_PAUSE_MS = 1000;
/** How long a pass waits before it looks at the load gate again. */
const LOAD_RECHECK_MS = 1000;
/** The token bucket holds at most this long's worth of the rate: a short burst, no more. */
const BUCKET_MS = 1000;

/**
 * Bytes allowed at a rate: tokens accrue at the rate, at most BUCKET_MS's
 * worth, and reads take them (into debt: the pass then waits the debt out).
 * A rate that changes by more than a tenth starts it afresh, with no debt
 * carried from a faster or slower ceiling; a deadline's rate drifts a little
 * as the pass goes, and within a tenth the bucket keeps what it holds.
 */
class TokenBucket {
  private tokens = 0;
  private at = performance.now();
  private rate: number | null = null;

  /** Takes `bytes` at `rate` (null: no ceiling, nothing counted). */
  take(bytes: number, rate: number | null): void {
    this.follow(rate);
    if (this.rate !== null) this.tokens -= bytes;
  }

  /** How long the debt takes to pay off at `rate` (ms; 0 without debt or ceiling). */
  waitMs(rate: number | null): number {
    this.follow(rate);
    return this.rate !== null && this.tokens < 0 ? (-this.tokens / this.rate) * 1000 : 0;
  }

  private follow(rate: number | null): void {
    const now = performance.now();
    if (rate === null || this.rate === null || Math.abs(rate - this.rate) > 0.1 * this.rate) {
      if (rate !== this.rate) [this.tokens, this.rate] = [0, rate];
    } else {
      this.rate = rate;
      this.tokens = Math.min((rate * BUCKET_MS) / 1000, this.tokens + ((now - this.at) / 1000) * rate);
    }
    this.at = now;
  }
}

/** One round's settings: the batch size, batches in flight (0: wait), whether extents go one by one, and whether reads skip the page cache. */
export interface Round {
  batch: number;
  inFlight: number;
  oneByOne: boolean;
  direct?: boolean;
}

/** The host's 1-minute load average per CPU (os.loadavg; 0 where the platform has none). */
export function loadPerCpu(): number {
  return loadavg()[0]! / Math.max(1, availableParallelism());
}

export class Pacer {
  private readonly auto: AutoController;
  private autoState: AutoState | null = null;
  /** How long the last extent's check took (ms): at `auto` under load, the pause is a multiple of it. */
  private lastCheckMs = 5;
  /** Bytes read per extent, a moving average (a ceiling sizes batches by it). */
  private extentBytes = 1024 * 1024;
  private readonly bucket = new TokenBucket();
  /** Per disk: the same at --disk-max-rate. */
  private readonly disks = new Map<string, TokenBucket>();

  constructor(
    private readonly engine: Engine,
    private readonly inputs: PaceInputs,
    private readonly load: () => number = loadPerCpu,
    controller?: AutoController,
  ) {
    this.auto = controller ?? new AutoController();
  }

  /** Whether the load gate holds background passes now. */
  gated(): boolean {
    const max = this.inputs.maxLoad?.() ?? null;
    return max !== null && this.load() > max;
  }

  /** This round's settings (see Round). */
  round(): Round {
    const round = this.uncapped();
    // Under a byte-rate ceiling, batches no bigger than a quarter second of it: a batch of twenty extents at a
    // ceiling of a few MB/s would come as one burst every several seconds, not as an even pace.
    const rate = this.ceiling();
    if (rate !== null && round.inFlight > 0) {
      const fit = Math.max(1, Math.floor((rate * 0.25) / this.extentBytes));
      if (fit < round.batch * round.inFlight) return { ...round, batch: Math.min(round.batch, fit), inFlight: 1 };
    }
    return round;
  }

  private uncapped(): Round {
    if (this.gated()) return { batch: 1, inFlight: 0, oneByOne: true };
    const intensity = this.inputs.intensity();
    if (intensity === 'auto') {
      const state = this.autoUpdate();
      if (state.level <= 0) return { batch: 1, inFlight: 0, oneByOne: true };
      return state.busy ? { batch: 1, inFlight: 1, oneByOne: true } : { ...AUTO_IDLE, oneByOne: false };
    }
    const pacing = PACING[intensity];
    const idle = this.clientsIdle(pacing.pauseOnlyWhenBusy);
    return {
      batch: pacing.batch,
      inFlight: idle ? pacing.idleInFlight ?? pacing.inFlight : pacing.inFlight,
      oneByOne: pacing.oneByOne ?? (pacing.oneByOneWhenBusy === true && !idle),
      ...(pacing.direct ? { direct: true } : {}),
    };
  }

  /** Bytes the pass has read for one extent, counted against the rate ceiling. */
  read(bytes: number): void {
    this.bucket.take(bytes, this.ceiling());
    if (bytes > 0) this.extentBytes += (bytes - this.extentBytes) / 16;
  }

  /** Bytes the pass has read from one disk, counted against the per-disk cap. */
  readFrom(diskId: string, bytes: number): void {
    const rate = this.inputs.diskMaxRate?.() ?? null;
    if (rate === null) {
      this.disks.clear();
      return;
    }
    let bucket = this.disks.get(diskId);
    if (!bucket) this.disks.set(diskId, (bucket = new TokenBucket()));
    bucket.take(bytes, rate);
  }

  /** A batch of `extents` took `ms` from dispatch to its answer. */
  checked(ms: number, extents: number): void {
    if (extents > 0) this.lastCheckMs = Math.max(0.1, ms / extents);
  }

  /** How long to sleep before the next batch: the intensity's pause (or auto's duty cycle), longer when the ceiling needs it. */
  pauseMs(): number {
    if (this.gated()) return LOAD_RECHECK_MS;
    let wait: number;
    const intensity = this.inputs.intensity();
    if (intensity === 'auto') {
      const state = this.autoState ?? this.autoUpdate();
      if (state.level <= 0) wait = 100;
      else if (!state.busy) wait = 0;
      else wait = Math.min(MAX_AUTO_PAUSE_MS, this.lastCheckMs * (1 / state.level - 1));
    } else {
      const pacing = PACING[intensity];
      wait = this.clientsIdle(pacing.pauseOnlyWhenBusy) ? 0 : pacing.sleepMs;
    }
    wait = Math.max(wait, this.bucket.waitMs(this.ceiling()));
    // The per-disk cap: the pass waits for the disk furthest over it (the others' tokens keep accruing).
    const diskRate = this.inputs.diskMaxRate?.() ?? null;
    if (diskRate !== null) for (const bucket of this.disks.values()) wait = Math.max(wait, bucket.waitMs(diskRate));
    return wait;
  }

  private autoUpdate(): AutoState {
    const fg = this.engine.foreground;
    this.autoState = this.auto.update({ now: fg.now(), idleMs: fg.idleMs(), latencies: (ms) => fg.latencies(ms) });
    return this.autoState;
  }

  /** The byte-rate ceiling now: the lower of --max-rate and the deadline's rate (null: none). */
  private ceiling(): number | null {
    const caps = [this.inputs.maxRate(), this.inputs.targetRate?.() ?? null].filter((r): r is number => r !== null && r > 0);
    return caps.length ? Math.min(...caps) : null;
  }

  private clientsIdle(onlyWhenBusy: boolean | undefined): boolean {
    return onlyWhenBusy === true && this.engine.foreground.idleMs() >= SCAN_IDLE_MS;
  }
}
