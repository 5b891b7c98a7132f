// Pacing to a deadline (`scrub-schedule --verify-within`): every extent should
// have been verified within that long. Passes then run back to back, each at
// an even pace (as HDFS's block scanner paced itself to its scan period),
// never sprinting and then idling: the bytes still to verify over the time
// left before the oldest verification among them passes the deadline — and,
// since the oldest are not all equally old, the most that any prefix of them
// (oldest first) asks for. Each is aimed at AIM of the deadline after its
// last verification, so that back-to-back passes keep a margin: a pass that
// took the whole period would leave its first extents due the moment the
// next began.
//
// The intensity (or `auto`'s controller) still sets the ceiling: a deadline it
// cannot meet shows as onTrack false, with its metric and alert. Pure
// functions of their inputs, so that tests drive them with any clock.

/** The shortest horizon a target rate is computed over: what is overdue is asked for within this. */
export const MIN_HORIZON_MS = 5000;
/** Extents are paced to be verified again within this share of the deadline. */
export const AIM = 0.9;
/** How far below the rate the real deadline needs the recent rate may be and still count on track. */
export const ON_TRACK_SLACK = 0.05;

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

/** Extents still to verify, grouped by their last verification (ms; those never verified count from the pass's start). */
export interface DueGroup {
  verifiedAt: number;
  bytes: number;
}

export interface DeadlineInputs {
  now: number;
  verifyWithinMs: number | null;
  /** What is still to verify, by last verification (any order). */
  due: readonly DueGroup[];
  /** The pass's recent rate (bytes/s), or null while not known. */
  recentRate: number | null;
}

/** The rate that verifies every group, oldest first, before `within` after its last verification (at least MIN_HORIZON_MS ahead). */
function requiredRate(groups: readonly DueGroup[], within: number, now: number): number {
  let bytes = 0;
  let rate = 0;
  for (const g of groups) {
    bytes += g.bytes;
    rate = Math.max(rate, bytes / (Math.max(g.verifiedAt + within - now, MIN_HORIZON_MS) / 1000));
  }
  return rate;
}

export function deadlinePacing(i: DeadlineInputs): PacingView {
  const groups = i.due.filter((g) => g.bytes > 0).sort((a, b) => a.verifiedAt - b.verifiedAt);
  const bytesLeft = groups.reduce((n, g) => n + g.bytes, 0);
  const needMs = i.recentRate && i.recentRate > 0 && bytesLeft > 0 ? (bytesLeft / i.recentRate) * 1000 : null;
  const projectedCompletionAt = needMs === null ? null : new Date(i.now + needMs).toISOString();
  if (i.verifyWithinMs === null) {
    return { mode: 'intensity', targetBytesPerSecond: null, verifyWithinSeconds: null, deadlineAt: null, projectedCompletionAt, onTrack: null };
  }
  const within = i.verifyWithinMs;
  const deadline = groups.length ? groups[0]!.verifiedAt + within : null;
  const target = requiredRate(groups, AIM * within, i.now);
  // On track: nothing overdue, and the recent rate (once known) meets what the real deadline needs.
  const overdue = deadline !== null && deadline <= i.now;
  const needed = requiredRate(groups, within, i.now);
  const onTrack = !overdue && (i.recentRate === null || bytesLeft === 0 || i.recentRate >= needed * (1 - ON_TRACK_SLACK));
  return {
    mode: 'deadline',
    targetBytesPerSecond: Math.round(target),
    verifyWithinSeconds: within / 1000,
    deadlineAt: deadline === null ? null : new Date(deadline).toISOString(),
    projectedCompletionAt,
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
