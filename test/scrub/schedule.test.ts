// Schedules with a fake clock: nightly starts inside the window at a point
// drawn from the pool id and date (spread across pools, stable across
// restarts), continuous every 6 h, manual never; overdue past 1.5 intervals.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { currentWindow, isOverdue, nextRunAt, nightlyOffsetMs, parseWindow } from '../../src/scrub/index.js';

const at = (day: number, h: number, m = 0) => new Date(2026, 10, day, h, m).getTime();
const HOUR = 3_600_000;
const POOL = '3a6e112f-1eba-42c2-9a7f-f789c8c8632e';
const nightly = { frequency: 'nightly' as const, window: '01:00-05:00' };

test('windows parse in local time, may cross midnight, and bad ones are refused with a code', () => {
  assert.equal(parseWindow('01:00-05:00'), { start: 60, length: 240 });
  assert.equal(parseWindow('23:30-02:00'), { start: 1410, length: 150 });
  for (const bad of ['1-5', '25:00-03:00', '01:60-02:00', '03:00-03:00', '', 'nightly']) {
    assert.throws(() => parseWindow(bad), (e: Error & { code?: string }) => e.code === 'DFS_ERR_SCRUB_SCHEDULE_INVALID', bad);
  }
});

test('nightly: the start lies in the first half of the window, today or the next night', () => {
  const first = nextRunAt(nightly, POOL, null, at(24, 0, 30))!;
  assert.ok(first >= at(24, 1) && first < at(24, 3), new Date(first).toString());
  // Started mid-window after the chosen time (the daemon was down): run now.
  assert.is(nextRunAt(nightly, POOL, null, at(24, 4, 30)), first);
  // After the window: the next night.
  const next = nextRunAt(nightly, POOL, null, at(24, 6))!;
  assert.ok(next >= at(25, 1) && next < at(25, 3));
  // Ran tonight already: not again until the next night.
  assert.is(nextRunAt(nightly, POOL, first, first + 60_000), next);
  assert.is(nextRunAt(nightly, POOL, first, at(24, 23)), next);
  // The same pool and night always give the same time (a restart does not re-roll).
  assert.is(nextRunAt(nightly, POOL, null, at(24, 0, 45)), first);
});

test('nightly across midnight: 23:00-03:00 starts between 23:00 and 01:00', () => {
  const run = nextRunAt({ frequency: 'nightly', window: '23:00-03:00' }, POOL, null, at(24, 12))!;
  assert.ok(run >= at(24, 23) && run < at(25, 1), new Date(run).toString());
  assert.ok(currentWindow(POOL, parseWindow('23:00-03:00'), at(25, 2, 59)) !== null);
  assert.is(currentWindow(POOL, parseWindow('23:00-03:00'), at(25, 3, 0)), null);
});

test('start times spread over the first half of the window across pools', () => {
  const window = parseWindow('01:00-05:00');
  const offsets = Array.from({ length: 300 }, (_, i) => nightlyOffsetMs(`pool-${i}`, at(24, 0), window));
  const half = 2 * HOUR;
  assert.ok(offsets.every((o) => o >= 0 && o < half));
  assert.ok(Math.min(...offsets) < 0.05 * half && Math.max(...offsets) > 0.95 * half);
  assert.ok(new Set(offsets.map((o) => Math.floor(o / (10 * 60_000)))).size >= 11, 'offsets bunch up');
  // Different nights give different times for the same pool.
  assert.ok(new Set([24, 25, 26, 27].map((d) => nightlyOffsetMs(POOL, at(d, 0), window))).size > 1);
});

test('continuous: 6 h after the last start (at once the first time); manual: never', () => {
  assert.is(nextRunAt({ frequency: 'continuous', window: '01:00-05:00' }, POOL, null, at(24, 9)), at(24, 9));
  assert.is(nextRunAt({ frequency: 'continuous', window: '01:00-05:00' }, POOL, at(24, 9), at(24, 10)), at(24, 15));
  assert.is(nextRunAt({ frequency: 'manual', window: '01:00-05:00' }, POOL, null, at(24, 9)), null);
});

test('overdue past 1.5 intervals without a completed pass', () => {
  assert.is(isOverdue('nightly', at(24, 2), at(1, 0), at(24, 2) + 35 * HOUR), false);
  assert.is(isOverdue('nightly', at(24, 2), at(1, 0), at(24, 2) + 37 * HOUR), true);
  assert.is(isOverdue('continuous', at(24, 2), at(1, 0), at(24, 2) + 8 * HOUR), false);
  assert.is(isOverdue('continuous', at(24, 2), at(1, 0), at(24, 2) + 10 * HOUR), true);
  assert.is(isOverdue('nightly', null, at(24, 0), at(25, 11)), false);
  assert.is(isOverdue('nightly', null, at(24, 0), at(25, 13)), true);
  assert.is(isOverdue('manual', null, at(1, 0), at(30, 0)), false);
});

test.run();
