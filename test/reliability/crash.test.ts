// The short crash suite of npm test (npm run test:crash runs 1,000 points):
//   - deterministic, SQLite-style: an overwrite of a two-extent object killed
//     at every third of its crash points (each durable step of the disk I/O
//     layer), the invariants checked after each;
//   - a group commit of small objects and a compaction of a pack, each
//     killed at every few of their crash points;
//   - random: a few dozen put, overwrite, rm, repair, rebuild, change-policy,
//     group put and compaction runs killed at a random crash point or after a
//     random delay, with a fixed seed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CRASH_OPS, CrashWorld, prng } from './crash-world.js';

test('an overwrite killed at every third durable step leaves the old or the new version, and nothing else', async () => {
  const world = new CrashWorld(prng(1));
  try {
    await world.init();
    await world.put('k', 100_000);
    await world.put('other', 100_000);
    // Count the crash points of one overwrite of the same shape (it completes, and is acknowledged).
    const input = world.newFile(100_000);
    const points = await world.countPoints(['put', input.path, '--key', 'k']);
    world.acknowledge('k', input.bytes);
    assert.ok(points >= 40, `an overwrite passes ${points} crash points`);
    const seen = new Set<string>();
    for (let at = 1; at <= points; at += 3) {
      // Only 'k' and 'other' exist: the overwrite picks one of them, always two extents.
      const outcome = await world.crash('overwrite', { crashAt: at }, { size: 100_000 });
      assert.ok(outcome.killed, `crash point ${at} was not reached`);
      seen.add(outcome.at!);
    }
    // Concurrent extent writes interleave their steps differently from run to run, so a step the sweep happened
    // to skip this time is killed at by its label (with the same invariants checked after).
    for (const label of ['fragment:open', 'fragment:written', 'fragment:synced', 'fragment:renamed', 'dir:fsync', 'catalog:commit']) {
      if (seen.has(label)) continue;
      const outcome = await world.crash('overwrite', { crashAtLabel: label }, { size: 100_000 });
      assert.ok(outcome.killed, `the crash point ${label} was not reached`);
      seen.add(outcome.at!);
    }
    assert.equal(world.totals.violations, []);
    for (const label of ['fragment:open', 'fragment:written', 'fragment:synced', 'fragment:renamed', 'dir:fsync', 'catalog:commit']) assert.ok(seen.has(label), `never died at ${label}: ${[...seen].join(', ')}`);
    assert.ok(world.totals.leftoversCollected > 0, 'gc had leftovers to collect');
  } finally {
    world.cleanup();
  }
});

test('a group commit and a compaction killed at their durable steps: acknowledged objects survive, the rest all or nothing', async () => {
  const seen = new Set<string>();
  // A pool of its own for each: what a compaction merges depends on what earlier runs left.
  for (const op of ['group-put', 'compact'] as const) {
    const world = new CrashWorld(prng(7));
    try {
      await world.init();
      await world.put('big', 100_000);
      // One run to completion counts its points; then kills at every twelfth of them.
      const done = await world.crash(op, { crashAt: 100_000 });
      assert.not.ok(done.killed);
      const points = world.pointsSeen[op]!;
      assert.ok(points >= 30, `${op} passes only ${points} crash points`);
      let killed = 0;
      let tried = 0;
      for (let at = 1; at <= points - 12; at += 12, tried++) {
        let outcome = await world.crash(op, { crashAt: at });
        // What a compaction merges depends on what the runs before it left: one that passed fewer
        // points than the counting run (finishing instead) is killed again, a dozen points earlier.
        if (!outcome.killed && at > 12) outcome = await world.crash(op, { crashAt: at - 12 });
        if (outcome.killed) killed++;
        seen.add(`${op} ${outcome.at}`);
      }
      assert.is(killed, tried, `${op}: killed at only ${killed} of ${tried} points`);
      // And at the steps that matter most, by name: the last directory sync, the commit, the first step after it.
      for (const label of ['dir:fsync#6', 'catalog:commit', op === 'group-put' ? 'catalog:committed' : 'file:unlink']) {
        const outcome = await world.crash(op, { crashAtLabel: label });
        assert.ok(outcome.killed, `${op} never reached ${label}`);
        seen.add(`${op} ${outcome.at}`);
      }
      assert.equal(world.totals.violations, []);
    } finally {
      world.cleanup();
    }
  }
  for (const label of ['group-put fragment:', 'group-put catalog:commit', 'compact fragment:', 'compact catalog:commit', 'compact file:unlink']) {
    assert.ok([...seen].some((s) => s.startsWith(label)), `never died at ${label}: ${[...seen].join(', ')}`);
  }
});

test('random kills during put, overwrite, rm, repair, rebuild and change-policy lose nothing acknowledged', async () => {
  const random = prng(20261124);
  const world = new CrashWorld(random);
  try {
    await world.init();
    for (let i = 0; i < 4; i++) await world.put(`seed/${i}`);
    for (let i = 0; i < 18; i++) {
      const op = CRASH_OPS[i % CRASH_OPS.length]!;
      const kill = random() < 0.8 ? { crashAt: 1 + Math.floor(random() * 80) } : { killAfterMs: Math.floor(random() * 400) };
      await world.crash(op, kill);
    }
    assert.equal(world.totals.violations, []);
    assert.ok(world.totals.killed >= 9, `only ${world.totals.killed} of ${world.totals.runs} runs were killed`);
  } finally {
    world.cleanup();
  }
});

test.run();
