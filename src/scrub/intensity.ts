// How hard the scrubber pushes: a pause between batches and the
// batch size, plus an optional byte-rate cap on top. `inFlight` is how many
// batches may be in the worker pool at once: one keeps low and medium gentle,
// two lets high keep both worker threads reading. At high the pause applies
// only while clients use the pool (their reads or writes reached the disks in
// the last SCAN_IDLE_MS, ZFS's scan idle window): an idle pool is scrubbed as
// fast as the disks allow (four batches in flight: no worker waits while
// the daemon's thread handles a finished batch), a busy one still gets the gaps,
// and its batches go to the workers an extent at a time, so that a client's
// read queued behind a scrub check waits for one extent, not twenty. Low
// checks ten extents a second as one batch of forty every four seconds, on
// the scrubber's own threads (a client's read never waits in their queue):
// the same pace as ten every second, at less CPU. The cost of a batch, its
// hand-offs and wake-ups across the daemon's threads, outweighed the checks:
// npm run bench:scrub measured 1.30–1.45% of a core with ten every second,
// 0.95–1.20% with twenty every two, and a daemon scrubbing in its steady
// state 0.90–1.13% with twenty every two against 0.77–0.97% with forty every
// four, alternating in the same build.
import { DfsError } from '../errors.js';
import { parseSize } from '../pool/index.js';

/** low, medium and high follow the table below; auto follows the clients (auto.ts). */
export type Intensity = 'low' | 'medium' | 'high' | 'auto';
export const INTENSITIES: readonly Intensity[] = ['low', 'medium', 'high', 'auto'];
export type TableIntensity = Exclude<Intensity, 'auto'>;

export interface Pacing {
  sleepMs: number;
  batch: number;
  inFlight: number;
  /** Pause only when the pool has seen foreground I/O within SCAN_IDLE_MS. */
  pauseOnlyWhenBusy: boolean;
  /** Batches in flight while the pool is idle (so no worker waits for the next batch). */
  idleInFlight?: number;
  /** Hand a batch to the workers one extent at a time (a client's read then waits behind one extent, not five). */
  oneByOne?: boolean;
  /** The same, only while clients use the pool (an idle pool gets whole batches: fewer hand-offs). */
  oneByOneWhenBusy?: boolean;
  /**
   * Read fragments past the page cache (O_DIRECT, where the filesystem
   * allows it): the bytes on the disk are what is verified, the clients'
   * cached data is not pushed out by the pass, and the kernel does less
   * work per byte (no readahead, no page-cache insertion and eviction).
   */
  direct?: boolean;
}

export const SCAN_IDLE_MS = 50;

export const PACING: Record<TableIntensity, Pacing> = {
  low: { sleepMs: 4000, batch: 40, inFlight: 1, pauseOnlyWhenBusy: false, direct: true },
  medium: { sleepMs: 50, batch: 5, inFlight: 1, pauseOnlyWhenBusy: false, oneByOne: true },
  high: { sleepMs: 10, batch: 20, inFlight: 2, pauseOnlyWhenBusy: true, idleInFlight: 4, oneByOneWhenBusy: true },
};

export function parseIntensity(value: unknown): Intensity {
  if (typeof value === 'string' && (INTENSITIES as readonly string[]).includes(value.trim().toLowerCase())) return value.trim().toLowerCase() as Intensity;
  throw new DfsError('DFS_ERR_SCRUB_INTENSITY_INVALID', `got ${JSON.stringify(value)}`);
}

/** A byte-rate cap: a positive size (`50M`, `1048576`) per second, or null/`0`/`off` for none. */
export function parseMaxRate(value: unknown): number | null {
  if (value === undefined || isOff(value)) return null;
  let bytes: number;
  try {
    bytes = typeof value === 'number' ? value : parseSize(String(value).replace(/\/s$/i, ''), 'rate');
  } catch {
    throw new DfsError('DFS_ERR_SCRUB_RATE_INVALID', `got ${JSON.stringify(value)} (for example 50M or 1048576)`);
  }
  if (!Number.isFinite(bytes) || bytes <= 0) throw new DfsError('DFS_ERR_SCRUB_RATE_INVALID', `got ${JSON.stringify(value)}`);
  return Math.floor(bytes);
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** A duration such as `600s`, `90m`, `36h`, `7d` or `2w` (or a number of seconds), in seconds. */
export function parseDuration(value: unknown, what: string): number {
  const m = typeof value === 'number' ? [String(value), String(value), 's'] : typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$/i.exec(value) : null;
  const seconds = m ? Number(m[1]) * DURATION_UNITS[(m[2] || 's').toLowerCase()]! : NaN;
  if (!Number.isFinite(seconds) || seconds <= 0) throw new DfsError('DFS_ERR_SCRUB_DURATION_INVALID', `${what}: got ${JSON.stringify(value)}`);
  return seconds;
}

/** Whether a setting is being turned off: null, 0, "0", "off" or "none". */
export function isOff(value: unknown): boolean {
  return value === null || value === 0 || value === '0' || value === 'off' || value === 'none';
}

/** A number given as a number or as plain decimal digits ("0.8", "4"); NaN otherwise. */
function plainNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  return typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN;
}

/** The load gate: a 1-minute load average per CPU (e.g. 0.8), or off. */
export function parseMaxLoad(value: unknown): number | null {
  if (isOff(value)) return null;
  const n = plainNumber(value);
  if (!Number.isFinite(n) || n <= 0) throw new DfsError('DFS_ERR_SCRUB_SCHEDULE_INVALID', `max-load ${JSON.stringify(value)}: a 1-minute load average per CPU such as 0.8, or off`);
  return n;
}

/** The scrubber's reads in flight per disk: 1 to 1024, or off (half of the pool's reads.perDiskInFlight). */
export function parseDiskInFlight(value: unknown): number | null {
  if (isOff(value)) return null;
  const n = plainNumber(value);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new DfsError('DFS_ERR_SCRUB_SCHEDULE_INVALID', `disk-in-flight ${JSON.stringify(value)}: an integer from 1 to 1024, or off`);
  return n;
}
