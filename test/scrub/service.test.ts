// The scrub service in-process on a real pool: the scheduler driven by a fake
// clock (nightly start inside the window, once per night, yield at the
// window's end and resume next night, overdue), the per-pass repair cap,
// one repair at a time per extent, and concurrent puts, overwrites and
// deletes during a pass producing no false positives.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, chunkSource, deleteObject, putObject, repairExtent, fragmentPath } from '../../src/store/index.js';
import { CHECKPOINT_VERSION, ScrubService } from '../../src/scrub/index.js';
import { randomBytes } from '../helpers/gf-reference.js';
import { tempDir } from '../helpers/cli.js';

const EXTENT = 16 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` on a fresh seven-disk pool, closed and removed however `fn` ends. */
async function withPool(fn: (engine: Engine) => Promise<void>): Promise<void> {
  const root = tempDir('dfs-scrub-');
  const paths = Array.from({ length: 7 }, (_, i) => join(root, `d${i}`));
  for (const p of paths) mkdirSync(p);
  const engine = Engine.init(join(root, 'pool'), { extentSize: EXTENT, disks: paths });
  try {
    await fn(engine);
  } finally {
    await engine.close();
    rmSync(root, { recursive: true, force: true });
  }
}

async function put(engine: Engine, key: string, size: number, seed: number): Promise<void> {
  const bytes = randomBytes(size, seed);
  async function* chunks() {
    yield bytes;
  }
  await putObject(engine, chunkSource(chunks(), size), key);
}

function corrupt(engine: Engine, key: string, seq: number, index = 0): void {
  const object = engine.catalog.object(key)!;
  const extent = engine.catalog.extentsOfObject(object.id)[seq]!;
  const f = extent.fragments.find((x) => x.index === index)!;
  const path = fragmentPath(engine.catalog.disk(f.diskId)!.path, extent.id, index);
  const b = readFileSync(path);
  b[b.length - 1]! ^= 1;
  writeFileSync(path, b);
}

async function until(what: string, probe: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('the scheduler with a fake clock: nightly in the window, once a night, yields at the window end and resumes next night; overdue', () => withPool(async (engine) => {
  // More than one batch at low (40 extents), so that the window can close mid-pass.
  await put(engine, 'a', 100 * EXTENT, 1);
  let now = new Date(2026, 10, 24, 0, 30).getTime();
  const service = new ScrubService(engine, { clock: () => now, tickMs: 0, checkpointMs: 50 });
  service.setSchedule({ frequency: 'nightly', window: '01:00-05:00', intensity: 'high' });
  service.startBackground();
  await service.tick();
  assert.is(service.state, 'idle');
  const runAt = service.nextRunAt()!;
  assert.ok(runAt >= new Date(2026, 10, 24, 1).getTime() && runAt < new Date(2026, 10, 24, 3).getTime());
  now = runAt - 1000;
  await service.tick();
  assert.is(service.state, 'idle', 'started before its time');
  now = runAt;
  await service.tick();
  assert.is(service.state, 'running');
  await until('the pass to complete', () => service.state === 'idle');
  const first = service.status();
  assert.is(first.lastPass!.extentsScanned, 100);
  assert.is(first.overdue, false);
  now = runAt + 3600_000;
  await service.tick();
  assert.is(service.state, 'idle', 'a second pass in the same night');

  // Next night, at low intensity, the window closes mid-pass: the pass yields and is kept.
  service.setIntensity('low');
  now = service.nextRunAt()!;
  assert.ok(now - runAt > 20 * 3600_000);
  await service.tick();
  assert.is(service.state, 'running');
  await until('some progress', () => (service.status().pass?.extentsDone ?? 0) >= 3);
  now = new Date(2026, 10, 25, 5, 1).getTime();
  await until('the pass to yield at the window end', () => service.state === 'idle');
  const yielded = service.status().pass!;
  assert.ok(yielded.extentsDone >= 3 && yielded.extentsDone < 100);
  // The night after, the same pass resumes where it stopped.
  service.setIntensity('high');
  now = service.nextRunAt()!;
  assert.ok(now > new Date(2026, 10, 26, 0, 59).getTime());
  await service.tick();
  assert.is(service.status().pass!.id, yielded.id);
  await until('the resumed pass to complete', () => service.state === 'idle');
  const done = service.status();
  assert.is(done.lastPass!.extentsScanned, 100);
  assert.is(done.pass, null);

  // No completed pass for more than 36 h: overdue.
  now += 37 * 3600_000;
  service.setSchedule({ frequency: 'manual' });
  assert.is(service.status().overdue, false, 'manual is never overdue');
  service.setSchedule({ frequency: 'nightly' });
  assert.is(service.status().overdue, true);
  assert.is(service.metricsView().overdue, true);
  await service.close();
}));

test('past the per-pass repair cap, auto-repair pauses and the rest is reported', () => withPool(async (engine) => {
  await put(engine, 'c', 6 * EXTENT, 2);
  for (const seq of [0, 1, 2, 3, 4]) corrupt(engine, 'c', seq);
  engine.config = { ...engine.config, scrub: { ...engine.config.scrub, maxRepairsPerPass: 2 } };
  const service = new ScrubService(engine, { tickMs: 0 });
  const summary = await service.runOnce({ repair: true, intensity: 'high' });
  assert.is(summary.issuesFound, 5);
  assert.is(summary.repairsAttempted, 2);
  assert.is(summary.repairsSuccessful, 2);
  assert.is(summary.repairsPaused, true);
  assert.is(summary.problems.filter((p) => p.action === 'repair_paused').length, 3);
  assert.is(engine.catalog.problemsCount(), 3);
  assert.is(service.status().problems.filter((p) => p.action === 'repair_paused').length, 3);
  await service.close();
}));

test('two repairs of one extent at once (a rebuild and a scrub) run one after the other: one rebuilds, the other finds it healthy', () => withPool(async (engine) => {
  await put(engine, 'r', EXTENT, 3);
  const extent = engine.catalog.extentsOfObject(engine.catalog.object('r')!.id)[0]!;
  engine.catalog.recordProblems(extent.id, [{ index: 1, diskId: extent.fragments[1]!.diskId, kind: 'checksum_mismatch' }], 'test');
  let writes = 0;
  const write = engine.io.write.bind(engine.io);
  engine.io.write = (disk, bytes) => {
    writes++;
    write(disk, bytes);
  };
  const outcomes = (await Promise.all([repairExtent(engine, extent.id), repairExtent(engine, extent.id)])).map((r) => r.outcome).sort();
  assert.equal(outcomes, ['healthy', 'repaired']);
  assert.is(writes, 1);
}));

test('puts, overwrites and deletes during a pass: no false positives', () => withPool(async (engine) => {
  for (let i = 0; i < 40; i++) await put(engine, `k${i}`, 3 * EXTENT, 100 + i);
  const service = new ScrubService(engine, { tickMs: 0 });
  // Certainly one race: the third batch has been taken from the catalogue, and before the workers read it
  // the objects of its first two extents are deleted and rewritten (their files go away under the check).
  const workers = engine.pools.background();
  const scrubPage = workers.scrubPage.bind(workers);
  let calls = 0;
  workers.scrubPage = (async (page: Parameters<typeof scrubPage>[0]) => {
    if (++calls === 3) {
      // The first two of the page's extents that still exist (the loop below changes objects too).
      const keys = page.extentIds.map((id) => engine.catalog.extent(id)).filter((e) => e !== null)
        .map((e) => engine.catalog.objectById(e!.objectId)!.key).filter((k, i, all) => all.indexOf(k) === i).slice(0, 2);
      if (keys[0]) await deleteObject(engine, keys[0]);
      if (keys[1]) await put(engine, keys[1], 2 * EXTENT, 5000);
    }
    return scrubPage(page);
  }) as typeof workers.scrubPage;
  let finished = false;
  const pass = service.runOnce({ intensity: 'medium', repair: true }).finally(() => { finished = true; });
  let changes = 0;
  for (let round = 0; !finished; round++) {
    const i = round % 40;
    if (round % 3 === 2) await deleteObject(engine, `k${i}`).catch(() => {});
    else await put(engine, `k${i}`, (1 + (round % 4)) * EXTENT, 1000 + round);
    changes++;
  }
  const summary = await pass;
  assert.ok(calls >= 3, `only ${calls} pages checked: the race was not induced`);
  assert.ok(changes > 20, `only ${changes} changes during the pass`);
  assert.is(summary.issuesFound, 0, JSON.stringify(summary.problems.slice(0, 5)));
  assert.is(summary.extents.degraded + summary.extents.unrecoverable, 0);
  assert.is(engine.catalog.problemsCount(), 0);
  assert.ok(summary.extentsSkipped > 0, 'no extent changed under the check: the race was not exercised');
  await service.close();
}));


test('the checkpoint carries a version: an old record is read, a newer one is left alone, an unreadable one gives idle', () => withPool(async (engine) => {
  // A record as written before the version field: read, and rewritten with the version on the next change.
  engine.catalog.setMeta('scrub', JSON.stringify({ state: 'paused', pass: null, lastPass: null, lastCompletedAt: 1234, lastRunAt: null }));
  const old = new ScrubService(engine, { tickMs: 0 });
  assert.is(old.state, 'paused');
  assert.is(old.status().lastCompletedAt, new Date(1234).toISOString());
  await old.resume();
  const rewritten = JSON.parse(engine.catalog.meta('scrub')!) as { version: number; state: string };
  assert.is(rewritten.version, CHECKPOINT_VERSION);
  assert.is(rewritten.state, 'idle');

  // A record from a newer version: this scrubber starts idle and never overwrites it.
  const future = JSON.stringify({ version: CHECKPOINT_VERSION + 1, state: 'running', cursor: { shard: 3 } });
  engine.catalog.setMeta('scrub', future);
  const newer = new ScrubService(engine, { tickMs: 0 });
  assert.is(newer.state, 'idle');
  await newer.stop();
  assert.is(engine.catalog.meta('scrub'), future);

  for (const text of ['{not json', JSON.stringify({ version: 1, state: 'dancing' })]) {
    engine.catalog.setMeta('scrub', text);
    assert.is(new ScrubService(engine, { tickMs: 0 }).state, 'idle', text);
  }
}));

test.run();
