// The repair journal under SIGKILL. Fragments are damaged and `scrub
// --repair` is killed at a spread of its crash points (every durable step:
// fragment writes, renames, directory fsyncs, catalogue commits), and by
// label at the commits themselves. After each kill:
//   - every repair that committed (its fragment row back to `ok` after a
//     problem was recorded) has its repair event, naming the disk and
//     checksum the catalogue now holds;
//   - no repair event claims a repair that did not commit: its fragment row
//     says what the event says, and the file there reads back as it says;
//   - a damaged fragment has at most one repair event.
// Then a full `scrub --repair` finishes the job, and the same holds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { BIN, makePool, type TestPool } from '../helpers/cli.js';
import { resolveVariant, threadKernels } from '../../src/kernels/index.js';
import { headerLengthFor, hex64 } from '../../src/format/index.js';
import type { PoolEvent } from '../../src/catalog/index.js';

const EXTENT = 64 * 1024;
const KEY = 'journal/obj';
const kernels = threadKernels(resolveVariant());

interface Fragment { index: number; path: string; state: string; diskId: string; checksum: string }
interface Extent { id: string; seq: number; fragments: Fragment[] }

const extents = (pool: TestPool): Extent[] => pool.run('list-extents', '--key', KEY, '--json').json.extents as Extent[];
const events = (pool: TestPool): PoolEvent[] => pool.run('events', '--json', '--limit', '1000000').json.events as PoolEvent[];
const payloadHash = (path: string): string => {
  const b = readFileSync(path);
  return hex64(kernels.xxh3(b.subarray(headerLengthFor(Buffer.byteLength(KEY)))));
};

/** `scrub --repair`, killed where the environment says; true when it was killed. */
function scrubKilledAt(pool: TestPool, env: Record<string, string>): boolean {
  const r = spawnSync(process.execPath, [BIN, '--pool', pool.pool, 'scrub', '--repair', '--json'], { env: { ...process.env, ...env } });
  return r.signal === 'SIGKILL';
}

/** The invariants, over the events after `since` and the damaged fragments of this round. */
function check(pool: TestPool, since: number, damaged: { extent: string; index: number }[], where: string): PoolEvent[] {
  const now = extents(pool);
  const fresh = events(pool).filter((e) => e.id > since);
  const repairs = fresh.filter((e) => e.type === 'repair');
  for (const e of repairs) {
    const f = now.find((x) => x.id === e.extent)?.fragments.find((x) => x.index === e.fragment);
    assert.ok(f, `${where}: event #${e.id} names a fragment the catalogue has`);
    assert.is(f!.state, 'ok', `${where}: event #${e.id} claims a repair the catalogue does not show`);
    assert.is(f!.diskId, e.toDisk, `${where}: event #${e.id} names the disk the catalogue points at`);
    assert.is(f!.checksum, e.writtenChecksum, `${where}: event #${e.id}`);
    assert.is(payloadHash(f!.path), e.writtenChecksum, `${where}: the file of event #${e.id} reads back as it says`);
  }
  const problems = fresh.filter((e) => e.type === 'problem');
  for (const d of damaged) {
    const f = now.find((x) => x.id === d.extent)!.fragments.find((x) => x.index === d.index)!;
    const found = problems.some((e) => e.extent === d.extent && e.fragment === d.index);
    const repaired = repairs.filter((e) => e.extent === d.extent && e.fragment === d.index);
    assert.ok(repaired.length <= 1, `${where}: ${repaired.length} repair events for one fragment`);
    // Found and now ok: a repair committed and has its event, or (a copy that landed in place but was
    // never committed, found good by the next pass) the problem was cleared, and says so.
    const cleared = fresh.some((e) => e.type === 'problem_cleared' && e.extent === d.extent && e.fragment === d.index);
    if (found && f.state === 'ok') assert.is(repaired.length + (cleared ? 1 : 0), 1, `${where}: ${d.extent}/${d.index} ok again without its event`);
    if (f.state !== 'ok') assert.is(repaired.length, 0, `${where}: an event for a repair that did not commit`);
    if (!found) assert.is(repaired.length, 0, `${where}: a repair event without its problem`);
  }
  return fresh;
}

test('scrub --repair killed at its durable steps: committed repairs have their events, and no event claims one that did not commit', () => {
  const pool = makePool({ disks: 7, extentSize: '64KiB', policy: 'ec:4+2' });
  // Every round damages eight fragments on purpose: over the rounds each disk would pass the pool's
  // checksum-error threshold (10 in 10 minutes), become suspect and then, at random, failed, and a
  // repair would find no disk to write to. What is tested here is the journal, not the fault counting.
  pool.editConfig((config) => {
    config.faults = { ...(config.faults as object), checksum: { errors: 1_000_000, windowSeconds: 600 } };
  });
  try {
    const f = pool.file('obj', 8 * EXTENT, 41);
    assert.is(pool.run('put', f.path, '--key', KEY).code, 0);
    let round = 0;
    let since = 0;
    const damage = () => {
      round++;
      const list = extents(pool).map((e) => {
        const frag = e.fragments[round % 6]!;
        const b = readFileSync(frag.path);
        b[b.length - 5]! ^= 0x20;
        writeFileSync(frag.path, b);
        return { extent: e.id, index: frag.index };
      });
      return list;
    };
    // How many crash points a whole repair of eight damaged extents passes.
    let damaged = damage();
    const countFile = `${pool.root}/count`;
    spawnSync(process.execPath, [BIN, '--pool', pool.pool, 'scrub', '--repair', '--json'], { env: { ...process.env, DYNAMICFS_CRASH_COUNT: countFile } });
    const points = Number(readFileSync(countFile, 'utf8'));
    assert.ok(points >= 40, `a repair pass passes ${points} crash points`);
    since = check(pool, since, damaged, 'uninterrupted').at(-1)!.id;
    let kills = 0;
    const kill = (env: Record<string, string>, where: string) => {
      damaged = damage();
      if (scrubKilledAt(pool, env)) kills++;
      check(pool, since, damaged, where);
      // Finish the round: what the killed pass left is repaired, each fragment still once.
      const after = pool.run('scrub', '--repair');
      const failures = events(pool).filter((e) => e.id > since && e.type === 'repair_failed').map((e) => e.reason);
      assert.is(after.code, 0, `${where}: the pass after: ${after.stdout}${after.stderr}${failures.join('; ')}`);
      const fresh = check(pool, since, damaged, `${where}, then finished`);
      for (const d of damaged) {
        const n = fresh.filter((e) => (e.type === 'repair' || e.type === 'problem_cleared') && e.extent === d.extent && e.fragment === d.index).length;
        assert.is(n, 1, `${where}: ${d.extent}/${d.index} repaired (or found good) once over the two passes`);
      }
      since = fresh.at(-1)?.id ?? since;
    };
    for (let at = 7; at < points; at += Math.ceil(points / 9)) kill({ DYNAMICFS_CRASH_AT: String(at) }, `killed at point ${at}`);
    for (const label of ['catalog:commit#3', 'catalog:committed#3', 'catalog:commit#6', 'catalog:committed#7']) kill({ DYNAMICFS_CRASH_LABEL: label }, `killed at ${label}`);
    assert.ok(kills >= 10, `${kills} runs were killed`);
    assert.ok(pool.run('get', KEY).raw.equals(Buffer.from(f.bytes)), 'the object is exact');
    assert.equal(events(pool).filter((e) => e.type === 'disk_state'), [], 'no disk changed state: the damage is not a disk fault here');
  } finally {
    pool.cleanup();
  }
});

test.run();
