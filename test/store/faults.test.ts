// The repair journal's table and disk fault management, in process on a
// real pool (real SQLite, real files):
//   - retention: a long run of events keeps the journal within its size and
//     the catalogue file bounded; events past the age limit go;
//   - filters: type, disk, key prefix, since, after, limit (the newest N,
//     oldest first);
//   - a problem found again as it was is not a new event; one with other
//     bytes is;
//   - fault management: errors past the threshold make a disk suspect, more
//     since then fail it (and tell the listener); while another disk is
//     failed with fragments on it, or the pool lacks room, the disk stays
//     suspect with a `fail_deferred` event saying why.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/cli.js';
import { randomBytes } from '../helpers/gf-reference.js';
import { Catalog, type NewEvent } from '../../src/catalog/index.js';
import { Engine, chunkSource, putObject } from '../../src/store/index.js';
import { parsePolicy } from '../../src/pool/index.js';

const root = tempDir('dfs-faults-');
test.after(() => rmSync(root, { recursive: true, force: true }));

test('retention: 60,000 events in a 64 KiB journal stay within it, and the file stays small; old events go by age', () => {
  const path = join(root, 'retention.db');
  const catalog = Catalog.open(path, { create: true, poolId: 'p' });
  try {
    catalog.setEventRetention({ maxBytes: 65_536, maxAgeMs: 3_600_000 });
    let maxSeen = 0;
    for (let i = 0; i < 600; i++) {
      const batch: NewEvent[] = Array.from({ length: 100 }, (_, j) => ({
        type: 'problem', trigger: 'scrub', job: 'p1', key: `k/${i}/${j}`, extent: `e${i}-${j}`, seq: 0, fragment: j % 6, disk: `disk-${j % 3}`,
        kind: 'checksum_mismatch', expectedChecksum: '0123456789abcdef', observedChecksum: 'fedcba9876543210', result: 'queued',
      }));
      catalog.recordEvents(batch);
      maxSeen = Math.max(maxSeen, catalog.eventBytes());
    }
    // Pruning runs every 64 events: the journal may pass its bound by at most that many rows in between.
    const perRow = catalog.eventBytes() / catalog.events({ limit: 1_000_000 }).length;
    assert.ok(maxSeen <= 65_536 + 128 * perRow, `the journal reached ${maxSeen} bytes`);
    assert.ok(catalog.eventBytes() <= 65_536 + 128 * perRow);
    const kept = catalog.events({ limit: 1_000_000 });
    assert.ok(kept.length > 100 && kept.length < 1000, `${kept.length} events kept`);
    // The newest are the ones kept, ids never reused.
    assert.is(kept.at(-1)!.key, 'k/599/99');
    assert.is(kept.at(-1)!.id, 60_000);
    catalog.checkpointWal();
    const size = statSync(path).size;
    assert.ok(size < 4 * 1024 * 1024, `the catalogue file grew to ${size} bytes`);
    // By age: everything is older than an hour from two hours on.
    const { deleted } = catalog.pruneEvents(Date.now() + 2 * 3_600_000);
    assert.is(deleted, kept.length);
    assert.is(catalog.events().length, 0);
    assert.ok(catalog.eventBytes() === 0, `${catalog.eventBytes()} bytes counted for an empty journal`);
    // The counters by type count every event written, pruned or not.
    assert.is(catalog.counters()['events:problem'], 60_000);
  } finally {
    catalog.close();
  }
});

test('filters: type, disk, key prefix, since, after, and the newest N oldest first', () => {
  const catalog = Catalog.open(join(root, 'filters.db'), { create: true, poolId: 'p' });
  try {
    catalog.recordEvents([
      { type: 'problem', trigger: 'scrub', key: 'a/1', extent: 'e1', disk: 'disk-1', kind: 'missing' },
      { type: 'repair', trigger: 'scrub', key: 'a/1', extent: 'e1', disk: 'disk-1', toDisk: 'disk-2', result: 'repaired', sources: [{ fragment: 0, disk: 'disk-3', checksum: '0000000000000001' }] },
      { type: 'problem', trigger: 'read', key: 'b/1', extent: 'e2', disk: 'disk-2', kind: 'checksum_mismatch' },
      { type: 'disk_state', trigger: 'manual', disk: 'disk-2', previousState: 'healthy', state: 'suspect' },
    ]);
    const ids = (f: Parameters<typeof catalog.events>[0]) => catalog.events(f).map((e) => e.id);
    assert.equal(ids({}), [1, 2, 3, 4]);
    assert.equal(ids({ type: 'problem' }), [1, 3]);
    assert.equal(ids({ disk: 'disk-2' }), [3, 4]);
    assert.equal(ids({ key: 'a/' }), [1, 2]);
    assert.equal(ids({ after: 2 }), [3, 4]);
    assert.equal(ids({ limit: 2 }), [3, 4]);
    assert.equal(ids({ since: Date.now() + 60_000 }), []);
    const repair = catalog.events({ type: 'repair' })[0]!;
    assert.equal(repair.sources, [{ fragment: 0, disk: 'disk-3', checksum: '0000000000000001' }]);
    assert.is(repair.toDisk, 'disk-2');
    // Every field is there, null where it does not apply.
    assert.is(repair.observedChecksum, null);
    assert.is(repair.state, null);
    assert.is(catalog.lastEventOfExtent('e1', 'repair')!.id, 2);
    assert.is(catalog.lastEventOfExtent('e2', 'repair'), null);
  } finally {
    catalog.close();
  }
});

/** An ec:4+2 pool of `disks` disks with a checksum-error threshold of `errors`, holding one object of `extents` extents of 64 KiB. */
async function poolWithObject(name: string, disks: number, extents: number, errors: number): Promise<Engine> {
  const folders = Array.from({ length: disks }, (_, i) => join(root, `${name}-d${i}`));
  for (const d of folders) mkdirSync(d);
  const engine = Engine.init(join(root, name), { policy: 'ec:4+2', extentSize: '64KiB', disks: folders });
  engine.updateConfig({ ...engine.config, faults: { ...engine.config.faults, checksum: { errors, windowSeconds: 600 } } });
  const data = randomBytes(64 * 1024 * extents, extents);
  await putObject(engine, chunkSource((async function* () { yield data; })(), data.length), 'obj', { policy: parsePolicy('ec:4+2') });
  return engine;
}

test('fault management: suspect past the threshold, failed past it again; held back while another disk is failing', async () => {
  const engine = await poolWithObject('pool', 8, 20, 3);
  try {
    const target = engine.catalog.disks()[0]!.id;
    const other = engine.catalog.disks()[1]!.id;
    // Fragments on the target disk, each a different extent's.
    const onTarget = engine.catalog.extentIdsOnDisk(target).map((id) => engine.catalog.extent(id)!).map((e) => ({ extent: e.id, index: e.fragments.find((f) => f.diskId === target)!.index }));
    assert.ok(onTarget.length >= 9, `${onTarget.length} extents on the target disk`);
    const failed: string[] = [];
    engine.faults.onFailed((d) => failed.push(d));
    let n = 0;
    const damage = (count: number) => {
      for (let i = 0; i < count; i++) {
        const t = onTarget[n++]!;
        engine.noteProblems(t.extent, [{ index: t.index, diskId: target, kind: 'checksum_mismatch', observed: '00000000000000aa' }], 'scrub', 'reported', { trigger: 'scrub', job: 'test' });
      }
    };
    damage(2);
    assert.is(engine.catalog.diskRef(target)!.state, 'healthy');
    // The same problem found again is not news, and does not count again.
    const t0 = onTarget[0]!;
    engine.noteProblems(t0.extent, [{ index: t0.index, diskId: target, kind: 'checksum_mismatch', observed: '00000000000000aa' }], 'scrub');
    assert.is(engine.catalog.events({ type: 'problem' }).length, 2);
    assert.is(engine.catalog.diskRef(target)!.state, 'healthy');
    damage(1);
    assert.is(engine.catalog.diskRef(target)!.state, 'suspect');
    const suspect = engine.catalog.events({ type: 'disk_state', disk: target });
    assert.is(suspect.length, 1);
    assert.is(suspect[0]!.trigger, 'fault');
    assert.match(suspect[0]!.reason!, /3 checksum errors within 10 min \(threshold 3\)/);
    assert.is(engine.catalog.counters()[`disk_errors:${target}:checksum`], 3);
    // While another disk is failed with fragments on it, the suspect disk is kept (and says why, once).
    engine.disks.setState(other, 'failed');
    damage(3);
    damage(1);
    assert.is(engine.catalog.diskRef(target)!.state, 'suspect');
    const deferred = engine.catalog.events({ type: 'disk_state', disk: target }).filter((e) => e.result === 'fail_deferred');
    assert.is(deferred.length, 1);
    assert.match(deferred[0]!.reason!, new RegExp(`${other} is failed with \\d+ fragments still on it`));
    assert.equal(failed, []);
    // The other disk back: the next error past the threshold fails the target.
    engine.disks.setState(other, 'healthy');
    damage(1);
    assert.is(engine.catalog.diskRef(target)!.state, 'failed');
    assert.equal(failed, [target]);
    const states = engine.catalog.events({ type: 'disk_state', disk: target }).map((e) => `${e.previousState}->${e.state}:${e.result}`);
    assert.equal(states, ['healthy->suspect:suspect', 'suspect->suspect:fail_deferred', 'suspect->failed:failed']);
    assert.is(engine.catalog.counters()[`disk_faults:${target}:failed`], 1);
  } finally {
    await engine.close();
  }
});

test('no room: a suspect disk whose extents could not be rebuilt elsewhere is not failed', async () => {
  const engine = await poolWithObject('pool-tight', 6, 4, 1);
  try {
    const target = engine.catalog.disks()[0]!.id;
    const extents = engine.catalog.extentIdsOnDisk(target).map((id) => engine.catalog.extent(id)!);
    for (const e of extents.slice(0, 2)) {
      engine.noteProblems(e.id, [{ index: e.fragments.find((f) => f.diskId === target)!.index, diskId: target, kind: 'checksum_mismatch' }], 'scrub');
    }
    assert.is(engine.catalog.diskRef(target)!.state, 'suspect');
    const [deferred] = engine.catalog.events({ type: 'disk_state', disk: target }).filter((e) => e.result === 'fail_deferred');
    assert.ok(deferred, 'a fail_deferred event');
    assert.match(deferred!.reason!, /lacks room: its ec:4\+2 extents need 6 healthy disks besides this one, and there are 5/);
  } finally {
    await engine.close();
  }
});

test.run();
