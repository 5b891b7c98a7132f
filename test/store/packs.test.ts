// Small objects in packs, on a real pool: concurrent puts committed together
// (fewer packs than objects, every object exact), stat and list-extents
// showing the pack, overwrites and deletes leaving dead bytes, a pack with
// nothing live deleted at once, a damaged pack read around (the object's
// bytes still exact, the problem recorded) and repaired, rebuild of a pack
// after a disk failure, and gc compaction moving live objects and taking the
// old packs' files.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Engine, chunkSource, collectGarbage, compactPacks, deleteObject, fragmentPath, listExtents, lookupObject, objectView, putObject, readObject, rebuild, recoverCatalog,
  repairExtent,
} from '../../src/store/index.js';

import { blockCut } from '../../src/store/packs.js';
import { parsePolicy } from '../../src/pool/index.js';
import { recordBytes } from '../../src/format/index.js';
import { tempDir } from '../helpers/cli.js';
import { randomBytes } from '../helpers/gf-reference.js';

const root = tempDir('dfs-packs-');
const disks = Array.from({ length: 7 }, (_, i) => join(root, `d${i}`));
for (const d of disks) mkdirSync(d);
await Engine.init(join(root, 'pool'), { disks, policy: 'ec:4+2', extentSize: '256K' }).close();
let engine = Engine.open(join(root, 'pool'), { cacheBytes: 0 });

async function put(key: string, bytes: Uint8Array) {
  async function* one() {
    yield bytes;
  }
  return putObject(engine, chunkSource(one(), bytes.length), key);
}

async function read(key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of readObject(engine, lookupObject(engine, key))) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** Fragment files on the disks, and fragment rows in the catalogue: equal when nothing is orphaned or lost. */
function filesAndRows(): { files: number; rows: number } {
  let files = 0;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (!e.name.startsWith('.')) files++;
    }
  };
  for (const d of disks) walk(join(d, 'fragments'));
  const rows = (engine.catalog.db.prepare('SELECT count(*) AS n FROM fragments').get() as { n: number }).n;
  return { files, rows };
}

const objects = new Map<string, Uint8Array>();

test.after(async () => {
  await engine.close();
  rmSync(root, { recursive: true, force: true });
});

test('concurrent small puts are committed together: fewer packs than objects, each object exact', async () => {
  const before = engine.packs.stats.groupsWritten;
  await Promise.all(Array.from({ length: 60 }, async (_, i) => {
    const bytes = randomBytes(1000 + ((i * 997) % 7000), i + 1);
    objects.set(`small/${i}`, bytes);
    const r = await put(`small/${i}`, bytes);
    assert.is(r.size, bytes.length);
  }));
  const groups = engine.packs.stats.groupsWritten - before;
  assert.ok(groups >= 1 && groups < 30, `${groups} groups for 60 concurrent puts`);
  assert.is(engine.catalog.packTotals().packs, groups);
  for (const [key, bytes] of objects) assert.ok((await read(key)).equals(Buffer.from(bytes)), key);
  const view = objectView(engine, 'small/3')!;
  assert.ok(view.packed, 'stat names the pack');
  assert.is(view.packed!.length, objects.get('small/3')!.length);
  const extents = [...listExtents(engine, { key: 'small/3' })];
  assert.is(extents.length, 1);
  assert.is(extents[0]!.id, view.packed!.extent);
  // An object of the same bytes stored on its own has the same checksum.
  assert.is(view.checksum, (await put('alone', objects.get('small/3')!)).checksum);
  assert.equal(filesAndRows().files, filesAndRows().rows);
});

test('a group is cut where its fragment files fill whole blocks, unless the spill uses most of a block', () => {
  const ec = parsePolicy('ec:4+2');
  const record = recordBytes(8, 4096);
  // Sixteen 4 KiB records make ec:4+2 fragments just past 16 KiB: the sixteenth waits for the next group.
  assert.is(blockCut(ec, Array(16).fill(record)), 15);
  // Fifteen fit in four blocks: all go.
  assert.is(blockCut(ec, Array(15).fill(record)), 15);
  // A spill that fills most of the extra block is written, not held back.
  assert.is(blockCut(ec, Array(18).fill(record)), 18);
  // One record always goes, however it falls.
  assert.is(blockCut(ec, [recordBytes(8, 17000)]), 1);
  assert.is(blockCut(ec, [recordBytes(8, 16200), recordBytes(8, 100)]), 1);
  // Replication: each copy is the whole pack.
  assert.is(blockCut(parsePolicy('replication:3'), [recordBytes(8, 3900), recordBytes(8, 300)]), 1);
  assert.is(blockCut(parsePolicy('replication:3'), [recordBytes(8, 3000), recordBytes(8, 3000)]), 2);
});

test('overwrites and deletes leave dead bytes; a pack with nothing live goes at once', async () => {
  const big = randomBytes(300_000, 77);
  await put('small/0', big); // small -> large
  assert.ok((await read('small/0')).equals(Buffer.from(big)));
  assert.is(objectView(engine, 'small/0')!.packed, null);
  const smaller = randomBytes(500, 78);
  await put('small/0', smaller); // large -> small
  assert.ok((await read('small/0')).equals(Buffer.from(smaller)));
  objects.set('small/0', smaller);
  const lone = await put('lonely', randomBytes(2000, 79));
  const pack = objectView(engine, 'lonely')!.packed!.extent;
  assert.is(lone.size, 2000);
  assert.is(engine.catalog.packedIn(pack).length, 1, 'a lone put is a group of one');
  await deleteObject(engine, 'lonely');
  assert.is(engine.catalog.pack(pack), null, 'the emptied pack is gone');
  assert.is(engine.catalog.extent(pack), null);
  const totals = engine.catalog.packTotals();
  assert.ok(totals.liveBytes <= totals.bytes);
  assert.equal(filesAndRows().files, filesAndRows().rows);
});

test('a damaged pack: the object is read around the bad fragment, exact, the problem recorded; repair restores the pack', async () => {
  const view = objectView(engine, 'small/5')!;
  const extent = engine.catalog.extent(view.packed!.extent)!;
  // The data fragment holding the object's first byte.
  const index = Math.floor(view.packed!.offset / extent.fragmentLength);
  const f = extent.fragments.find((x) => x.index === index)!;
  const path = fragmentPath(engine.catalog.disk(f.diskId)!.path, extent.id, index);
  const bytes = readFileSync(path);
  bytes[extent.payloadOffset + (view.packed!.offset % extent.fragmentLength)]! ^= 0xff;
  writeFileSync(path, bytes);
  assert.ok((await read('small/5')).equals(Buffer.from(objects.get('small/5')!)));
  assert.ok(engine.catalog.problems().some((p) => p.extentId === extent.id && p.index === index), 'the bad fragment is recorded');
  const repaired = await repairExtent(engine, extent.id);
  assert.is(repaired.outcome, 'repaired');
  assert.is(engine.catalog.extent(extent.id)!.state, 'healthy');
  assert.ok((await read('small/5')).equals(Buffer.from(objects.get('small/5')!)));
});

test('a failed disk: rebuild re-creates the packs\' fragments, objects exact', async () => {
  const victim = engine.catalog.disks()[0]!;
  engine.disks.setState(victim.id, 'failed');
  const summary = await rebuild(engine);
  assert.is(summary.failed.length + summary.unrecoverable.length, 0, JSON.stringify(summary));
  assert.ok(summary.extentsRepaired > 0);
  for (const [key, bytes] of objects) assert.ok((await read(key)).equals(Buffer.from(bytes)), key);
  engine.disks.setState(victim.id, 'healthy');
});

test('gc compacts packs that are mostly dead: live objects move, old files go, files equal the catalogue', async () => {
  const keys = [...objects.keys()].filter((k) => k.startsWith('small/'));
  for (const key of keys.filter((_, i) => i % 4 !== 0)) {
    await deleteObject(engine, key);
    objects.delete(key);
  }
  const before = engine.catalog.packTotals();
  assert.ok(before.liveBytes < before.bytes * 0.5, JSON.stringify(before));
  await new Promise((r) => setTimeout(r, 1100)); // compaction leaves packs younger than a second alone
  const keptDead = engine.catalog.packsToCompact(2, 0, 1e6).filter((p) => p.liveBytes >= p.bytes * engine.config.packing.compactBelow)
    .reduce((sum, p) => sum + p.bytes - p.liveBytes, 0);
  const dry = await collectGarbage(engine, { dryRun: true, graceSeconds: 0 });
  assert.ok(dry.compaction.packsRewritten > 0);
  assert.equal(engine.catalog.packTotals(), before, 'a dry run changes nothing');
  // The daemon's background compaction may run while gc compacts: the two must not both copy the objects.
  const [first] = await Promise.all([compactPacks(engine), compactPacks(engine), collectGarbage(engine, { graceSeconds: 0 })]);
  assert.ok(first.packsRewritten > 0 && first.objectsMoved > 0, JSON.stringify(first));
  const after = engine.catalog.packTotals();
  // Each live object was copied once: beyond the records' headers (keys under 32 bytes here), the only
  // bytes not live are those of packs too live to rewrite.
  const headers = after.liveObjects * recordBytes(32, 0);
  assert.ok(after.bytes - after.liveBytes <= keptDead + headers, `${after.bytes - after.liveBytes} bytes not live, ${keptDead} in packs not rewritten`);
  assert.ok(after.bytes < before.bytes, `${after.bytes} bytes in packs after, ${before.bytes} before`);
  assert.is(after.liveBytes, before.liveBytes);
  for (const [key, bytes] of objects) assert.ok((await read(key)).equals(Buffer.from(bytes)), key);
  assert.equal(filesAndRows().files, filesAndRows().rows);
});

test('packed objects survive a reopen', async () => {
  await engine.close();
  engine = Engine.open(join(root, 'pool'), { cacheBytes: 0 });
  for (const [key, bytes] of objects) assert.ok((await read(key)).equals(Buffer.from(bytes)), key);
});

test('recover-catalog rebuilds packed objects from the packs\' records', async () => {
  const live = engine.catalog.counters().objects;
  await engine.close();
  for (const f of readdirSync(join(root, 'pool'))) if (f.startsWith('catalog.db')) rmSync(join(root, 'pool', f));
  const summary = await recoverCatalog(join(root, 'pool'));
  assert.ok(summary.packs > 0);
  assert.equal(summary.packsUnreadable, []);
  engine = Engine.open(join(root, 'pool'), { cacheBytes: 0 });
  // Exactly the live objects: those deleted from packs not compacted since stay deleted (the tombstones say so).
  assert.is(engine.catalog.counters().objects, live);
  for (const [key, bytes] of objects) {
    assert.ok(objectView(engine, key)!.packed !== null || bytes.length > 65536, key);
    assert.ok((await read(key)).equals(Buffer.from(bytes)), key);
  }
});

test('recover-catalog keeps deletes: a packed object deleted, one overwritten then deleted, one deleted then put again', async () => {
  // Put at once, so that group commit packs them together (the first goes alone) and their pack outlives the deletes.
  const kept = randomBytes(1000, 75);
  const batch: [string, Uint8Array][] = [['t/x0', randomBytes(100, 70)], ['t/deleted', randomBytes(3000, 71)], ['t/replaced-then-deleted', randomBytes(3000, 72)], ['t/deleted-then-put', randomBytes(3000, 73)], ['t/kept', kept]];
  await Promise.all(batch.map(([k, b]) => put(k, b)));
  const packOf = (key: string) => engine.catalog.packedOf(engine.catalog.object(key)!.id)!.extentId;
  assert.ok(['t/deleted', 't/replaced-then-deleted', 't/deleted-then-put'].every((k) => packOf(k) === packOf('t/kept')), 'one pack holds them');
  const again = randomBytes(2000, 74);
  await deleteObject(engine, 't/deleted');
  await put('t/replaced-then-deleted', randomBytes(300_000, 76)); // not packed: its own extents
  await deleteObject(engine, 't/replaced-then-deleted');
  await deleteObject(engine, 't/deleted-then-put');
  await new Promise((r) => setTimeout(r, 5));
  await put('t/deleted-then-put', again);
  const logs = disks.map((d) => readFileSync(join(d, 'tombstones.log'), 'utf8'));
  assert.ok(logs.every((l) => l.includes('"t/deleted"')), 'every disk has the tombstone');
  await engine.close();
  for (const f of readdirSync(join(root, 'pool'))) if (f.startsWith('catalog.db')) rmSync(join(root, 'pool', f));
  const summary = await recoverCatalog(join(root, 'pool'));
  assert.ok(summary.deletedSkipped >= 2, JSON.stringify(summary));
  engine = Engine.open(join(root, 'pool'), { cacheBytes: 0 });
  assert.equal(engine.catalog.listObjects({ prefix: 't/' }).map((o) => o.key), ['t/deleted-then-put', 't/kept', 't/x0']);
  assert.ok((await read('t/deleted-then-put')).equals(Buffer.from(again)));
  assert.ok((await read('t/kept')).equals(Buffer.from(kept)));
});

test('gc prunes tombstones once no pack older than the delete is left, and never while one is', async () => {
  const count = () => readFileSync(join(disks[0]!, 'tombstones.log'), 'utf8').split('\n').filter(Boolean).length;
  const before = count();
  assert.ok(before > 0);
  // Packs written before the deletes remain: every tombstone stays.
  const kept = await collectGarbage(engine, { graceSeconds: 0 });
  assert.ok(engine.catalog.oldestPackAt()! < Date.now());
  assert.is(kept.tombstones.dropped + kept.tombstones.kept, before * disks.length);
  // With every object gone and their packs with them, nothing can bring a key back: the logs empty.
  for (const o of engine.catalog.listObjects()) await deleteObject(engine, o.key);
  await new Promise((r) => setTimeout(r, 5));
  assert.is(engine.catalog.oldestPackAt(), null);
  const pruned = await collectGarbage(engine, { graceSeconds: 0 });
  assert.ok(pruned.tombstones.dropped > 0 && pruned.tombstones.kept === 0, JSON.stringify(pruned.tombstones));
  assert.not.ok(existsSync(join(disks[0]!, 'tombstones.log')));
});

test.run();
