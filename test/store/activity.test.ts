// Foreground activity as the scrubber sees it: idle time since the last
// client operation ended, zero while one runs (overlapping ones included).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ForegroundActivity } from '../../src/store/activity.js';

test('idle time counts from the end of the last operation and is 0 while any runs', () => {
  let now = 1000;
  const activity = new ForegroundActivity(() => now);
  assert.is(activity.idleMs(), Infinity); // never used
  const a = activity.begin();
  const b = activity.begin();
  now += 30;
  assert.is(activity.idleMs(), 0);
  a();
  assert.is(activity.idleMs(), 0); // b still runs
  now += 10;
  b();
  b(); // ending twice does not count twice
  now += 25;
  assert.is(activity.idleMs(), 25);
  const c = activity.begin();
  assert.is(activity.idleMs(), 0);
  c();
  now += 60;
  assert.is(activity.idleMs(), 60);
});

test.run();
