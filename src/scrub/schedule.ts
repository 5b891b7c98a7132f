// When the background scrubber starts a pass. Pure functions of
// the schedule, the last start and "now", so that tests drive them with any
// clock. Windows are local wall-clock times of the daemon's machine.
//
// - nightly: one pass per night, started at a point inside the window chosen
//   from the pool id and the date (so many pools do not all start at once,
//   and a restart does not re-roll it), within the window's first half.
// - continuous: a new pass 6 h after the previous one started (at once when
//   it ran longer than that).
// - manual: never on its own.
// A pass that has not completed within 1.5x the interval is overdue.
import { createHash } from 'node:crypto';
import { DfsError } from '../errors.js';
import type { ScrubScheduleConfig } from '../pool/index.js';

export type Frequency = ScrubScheduleConfig['frequency'];
export const FREQUENCIES: readonly Frequency[] = ['nightly', 'continuous', 'manual'];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
export const INTERVAL_MS: Record<Frequency, number | null> = { nightly: DAY, continuous: 6 * HOUR, manual: null };
export const OVERDUE_FACTOR = 1.5;

export interface Window {
  /** Minutes after local midnight. */
  start: number;
  /** Length in minutes (1..1440); a window may cross midnight. */
  length: number;
}

export function parseFrequency(value: unknown): Frequency {
  if (typeof value === 'string' && (FREQUENCIES as readonly string[]).includes(value)) return value as Frequency;
  throw new DfsError('DFS_ERR_SCRUB_SCHEDULE_INVALID', `frequency ${JSON.stringify(value)}: use nightly, continuous or manual`);
}

export function parseWindow(text: unknown): Window {
  const m = typeof text === 'string' ? /^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$/.exec(text.trim()) : null;
  const bad = () => new DfsError('DFS_ERR_SCRUB_SCHEDULE_INVALID', `window ${JSON.stringify(text)}: use HH:MM-HH:MM in 24-hour local time, e.g. 01:00-05:00`);
  if (!m) throw bad();
  const [h1, m1, h2, m2] = m.slice(1).map(Number) as [number, number, number, number];
  if (h1 > 23 || h2 > 23 || m1 > 59 || m2 > 59) throw bad();
  const start = h1 * 60 + m1;
  const end = h2 * 60 + m2;
  if (start === end) throw new DfsError('DFS_ERR_SCRUB_SCHEDULE_INVALID', `window ${text} is empty`);
  return { start, length: (end - start + 1440) % 1440 };
}

export function parseBool(value: unknown, what: string): boolean {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new DfsError('DFS_ERR_SCRUB_SCHEDULE_INVALID', `${what} ${JSON.stringify(value)}: use true or false`);
}

/** Local midnight of the day `days` after the day of `now`. */
function midnight(now: number, days: number): number {
  const d = new Date(now);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + days).getTime();
}

function localDate(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** The start offset inside a night's window, from the pool id and date: uniform over the window's first half. */
export function nightlyOffsetMs(poolId: string, day: number, window: Window): number {
  const h = createHash('sha256').update(`${poolId}/${localDate(day)}`).digest();
  return Math.floor((h.readUInt32LE(0) / 2 ** 32) * (window.length / 2) * 60_000);
}

export interface WindowOccurrence {
  start: number;
  end: number;
  runAt: number;
}

/** The night windows around `now`, oldest first. */
function occurrences(poolId: string, window: Window, now: number): WindowOccurrence[] {
  const out: WindowOccurrence[] = [];
  for (let days = -1; days <= 2; days++) {
    const day = midnight(now, days);
    // Wall-clock start, so that a DST change moves the window with the clock.
    const d = new Date(day);
    const start = new Date(d.getFullYear(), d.getMonth(), d.getDate(), Math.floor(window.start / 60), window.start % 60).getTime();
    out.push({ start, end: start + window.length * 60_000, runAt: start + nightlyOffsetMs(poolId, day, window) });
  }
  return out;
}

/** The window occurrence containing `now`, if any. */
export function currentWindow(poolId: string, window: Window, now: number): WindowOccurrence | null {
  return occurrences(poolId, window, now).find((o) => o.start <= now && now < o.end) ?? null;
}

/**
 * When the next scheduled pass starts (it may be in the past: start now), or
 * null for manual. `lastRunAt` is when a pass last started or resumed.
 */
export function nextRunAt(schedule: Pick<ScrubScheduleConfig, 'frequency' | 'window'>, poolId: string, lastRunAt: number | null, now: number): number | null {
  if (schedule.frequency === 'manual') return null;
  if (schedule.frequency === 'continuous') return lastRunAt === null ? now : lastRunAt + INTERVAL_MS.continuous!;
  const window = parseWindow(schedule.window);
  for (const o of occurrences(poolId, window, now)) {
    if (lastRunAt !== null && lastRunAt >= o.start) continue; // already ran in this window
    if (o.end <= now) continue; // missed (the daemon was down): the next one
    return o.runAt;
  }
  return null; // unreachable: one of the next two windows always qualifies
}

/** Overdue: the last pass completed (or the schedule began) more than 1.5 intervals ago. */
export function isOverdue(frequency: Frequency, lastCompletedAt: number | null, since: number, now: number): boolean {
  const interval = INTERVAL_MS[frequency];
  if (interval === null) return false;
  return now - (lastCompletedAt ?? since) > OVERDUE_FACTOR * interval;
}
