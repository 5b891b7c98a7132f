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

interface Bucket {
  tokens: number;
  at: number;
  rate: number | null;
}

/** Adds the tokens `rate` gave since the bucket was last looked at (a changed rate starts it afresh). */
function refillBucket(b: Bucket, rate: number): void {
  const now = performance.now();
  if (b.rate !== rate) Object.assign(b, { tokens: 0, rate });
  else b.tokens = Math.min((rate * BUCKET_MS) / 1000, b.tokens + ((now - b.at) / 1000) * rate);
  b.at = now;
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
  private bucket: Bucket = { tokens: 0, at: performance.now(), rate: null };
  /** Per disk: the same bucket at --disk-max-rate. */
  private readonly disks = new Map<string, Bucket>();

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

  /** This round's settings: the batch size, batches in flight (0: wait), and whether to send extents one by one. */
  round(): { batch: number; inFlight: number; oneByOne: boolean } {
    const round = this.uncapped();
    // Under a byte-rate ceiling, batches no bigger than a quarter second of it: a batch of twenty extents at a
    // ceiling of a few MB/s would come as one burst every several seconds, not as an even pace.
    this.refill();
    const rate = this.bucket.rate;
    if (rate !== null && round.inFlight > 0) {
      const fit = Math.max(1, Math.floor((rate * 0.25) / this.extentBytes));
      if (fit < round.batch * round.inFlight) return { batch: Math.min(round.batch, fit), inFlight: 1, oneByOne: round.oneByOne };
    }
    return round;
  }

  private uncapped(): { batch: number; inFlight: number; oneByOne: boolean } {
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
    };
  }

  /** Bytes the pass has read for one extent, counted against the rate ceiling. */
  read(bytes: number): void {
    this.refill();
    this.bucket.tokens -= bytes;
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
    if (!bucket) this.disks.set(diskId, (bucket = { tokens: 0, at: performance.now(), rate }));
    refillBucket(bucket, rate);
    bucket.tokens -= bytes;
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
    this.refill();
    const rate = this.bucket.rate;
    if (rate !== null && this.bucket.tokens < 0) wait = Math.max(wait, (-this.bucket.tokens / rate) * 1000);
    // The per-disk cap: the pass waits for the disk furthest over it (the others' tokens keep accruing).
    const diskRate = this.inputs.diskMaxRate?.() ?? null;
    if (diskRate !== null) {
      for (const bucket of this.disks.values()) {
        refillBucket(bucket, diskRate);
        if (bucket.tokens < 0) wait = Math.max(wait, (-bucket.tokens / diskRate) * 1000);
      }
    }
    return wait;
  }

  /** What the `auto` controller last decided (null before it was asked). */
  autoView(): AutoState | null {
    return this.autoState;
  }

  private autoUpdate(): AutoState {
    const fg = this.engine.foreground;
    this.autoState = this.auto.update({ now: fg.now(), idleMs: fg.idleMs(), latencies: (ms) => fg.latencies(ms) });
    return this.autoState;
  }

  /** The ceiling now (the lower of --max-rate and the deadline's rate), and the tokens it has given since last asked. */
  private refill(): void {
    const caps = [this.inputs.maxRate(), this.inputs.targetRate?.() ?? null].filter((r): r is number => r !== null && r > 0);
    const rate = caps.length ? Math.min(...caps) : null;
    const now = performance.now();
    const b = this.bucket;
    if (rate === null || b.rate === null || Math.abs(rate - b.rate) > 0.1 * b.rate) {
      // A new ceiling starts from an empty bucket (no debt carried from a faster or slower one); a deadline's
      // rate drifts a little as the pass goes, and within a tenth the bucket keeps what it holds.
      if (rate !== b.rate) this.bucket = { tokens: 0, at: now, rate };
      else b.at = now;
      return;
    }
    b.rate = rate;
    b.tokens = Math.min((rate * BUCKET_MS) / 1000, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
  }

  private clientsIdle(onlyWhenBusy: boolean | undefined): boolean {
    return onlyWhenBusy === true && this.engine.foreground.idleMs() >= SCAN_IDLE_MS;
  }
}
