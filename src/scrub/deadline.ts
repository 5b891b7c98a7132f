// Pacing to a deadline (`scrub-schedule --verify-within`): every extent should
// have been verified within that long. Passes then run back to back, each at
// an even pace: the bytes the pass has still to verify over the time left
// before the oldest verification among them passes the deadline (as HDFS's
// block scanner paced itself to its scan period), never sprinting and then
// idling. The intensity (or `auto`'s controller) still sets the ceiling: a
// deadline it cannot meet shows as onTrack false, with its metric and alert.
// Pure functions of their inputs, so that tests drive them with any clock.

/** The shortest horizon a target rate is computed over: a deadline already passed asks for everything within this. */
export const MIN_HORIZON_MS = 60_000;
/** How far the projected finish may run past the deadline, as a share of the time left, and still count on track. */
export const ON_TRACK_SLACK = 0.1;

export interface PacingView {
  /** 'deadline' with --verify-within set; 'intensity' otherwise (the intensity alone sets the pace). */
  mode: 'deadline' | 'intensity';
  /** The rate the deadline asks for now (bytes/s), or null without one. */
  targetBytesPerSecond: number | null;
  verifyWithinSeconds: number | null;
  /** When the oldest verification still to be renewed passes the deadline (ISO), or null. */
  deadlineAt: string | null;
  /** When the pass ends at its recent rate (ISO), or null while no rate is known (or no pass runs). */
  projectedCompletionAt: string | null;
  /** Whether the deadline will be met at the recent rate (null: no deadline). */
  onTrack: boolean | null;
}

export interface DeadlineInputs {
  now: number;
  verifyWithinMs: number | null;
  /** The oldest last verification among the extents still to check (ms), or null when none is left. */
  oldestVerifiedAt: number | null;
  /** Fragment bytes the pass has still to check (0 with no pass). */
  bytesLeft: number;
  /** The pass's recent rate (bytes/s), or null while not known. */
  recentRate: number | null;
}

export function deadlinePacing(i: DeadlineInputs): PacingView {
  if (i.verifyWithinMs === null) {
    const projected = i.recentRate && i.bytesLeft > 0 ? i.now + (i.bytesLeft / i.recentRate) * 1000 : null;
    return { mode: 'intensity', targetBytesPerSecond: null, verifyWithinSeconds: null, deadlineAt: null, projectedCompletionAt: projected === null ? null : new Date(projected).toISOString(), onTrack: null };
  }
  const deadline = i.oldestVerifiedAt === null ? null : i.oldestVerifiedAt + i.verifyWithinMs;
  const left = deadline === null ? Infinity : deadline - i.now;
  const target = i.bytesLeft <= 0 ? 0 : Number.isFinite(left) ? i.bytesLeft / (Math.max(left, MIN_HORIZON_MS) / 1000) : 0;
  const needMs = i.recentRate && i.recentRate > 0 ? (i.bytesLeft / i.recentRate) * 1000 : null;
  let onTrack: boolean;
  if (i.bytesLeft <= 0) onTrack = left > 0;
  else if (left <= 0) onTrack = false;
  else onTrack = needMs === null ? true : needMs <= left * (1 + ON_TRACK_SLACK);
  return {
    mode: 'deadline',
    targetBytesPerSecond: Math.round(target),
    verifyWithinSeconds: i.verifyWithinMs / 1000,
    deadlineAt: deadline === null ? null : new Date(deadline).toISOString(),
    projectedCompletionAt: needMs === null || i.bytesLeft <= 0 ? null : new Date(i.now + needMs).toISOString(),
    onTrack,
  };
}

/**
 * The rate of a pass over a short window (RATE_WINDOW_MS): the ETA follows
 * what the pass does now, not its average since it began (a pass that was
 * slow while clients were busy would otherwise promise the old pace for hours).
 */
export const RATE_WINDOW_MS = 30_000;
/** A rate needs at least this much of a window behind it. */
export const RATE_MIN_MS = 5000;

export class RateMeter {
  private samples: { at: number; bytes: number }[] = [];

  /** The pass's bytes done at `at` (ms). */
  add(at: number, bytes: number): void {
    const last = this.samples[this.samples.length - 1];
    if (last && bytes < last.bytes) this.samples = []; // a new pass
    this.samples.push({ at, bytes });
    while (this.samples.length > 2 && this.samples[1]!.at <= at - RATE_WINDOW_MS) this.samples.shift();
  }

  reset(): void {
    this.samples = [];
  }

  /** Bytes/s over the window up to `now`, or null with less than RATE_MIN_MS of it. */
  rate(now: number): number | null {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || now - first.at < RATE_MIN_MS) return null;
    return ((last.bytes - first.bytes) * 1000) / (now - first.at);
  }
}
