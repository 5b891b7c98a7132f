// The catalogue's incremental counters follow every change, and agree with a full count.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Catalog, SCHEMA_VERSION, type NewExtent } from '../../src/catalog/index.js';
import { MIGRATIONS } from '../../src/catalog/schema.js';
import { tempDir } from '../helpers/cli.js';

const dir = tempDir();
const catalog = Catalog.open(join(dir, 'catalog.db'), { create: true, poolId: 'p1' });
for (const id of ['d1', 'd2', 'd3']) catalog.addDisk(id, join(dir, id));

function extent(id: string, seq: number, disks: string[]): NewExtent {
  return {
    id, seq, size: 100, policy: 'ec:2+1', need: 2, width: 3, fragmentLength: 64, payloadOffset: 128, checksum: '00',
    fragments: disks.map((diskId, index) => ({ index, diskId, checksum: '11', bytes: 192 })),
  };
}

function fullCount() {
  const rows = catalog.db.prepare('SELECT state, count(*) AS n FROM extents GROUP BY state').all() as { state: string; n: number }[];
  const out = { healthy: 0, degraded: 0, unrecoverable: 0 } as Record<string, number>;
  for (const r of rows) out[r.state] = r.n;
  return out;
}

function agree(): void {
  const c = catalog.extentCounts();
  assert.equal({ healthy: c.healthy, degraded: c.degraded, unrecoverable: c.unrecoverable }, fullCount());
}

test('counters follow commits, disk failures, problems, repairs and deletes', () => {
  catalog.commitObject({ id: 'o1', key: 'a', size: 200, policy: 'ec:2+1', checksum: '0', extents: 2, createdAt: 1 }, [extent('e1', 0, ['d1', 'd2', 'd3']), extent('e2', 1, ['d2', 'd3', 'd1'])]);
  assert.equal(catalog.extentCounts(), { healthy: 2, degraded: 0, unrecoverable: 0, total: 2 });
  assert.is(catalog.disk('d1')!.fragments, 2);
  assert.is(catalog.disk('d1')!.storedBytes, 384);
  catalog.setDiskState('d1', 'failed');
  assert.equal(catalog.extentCounts().degraded, 2);
  agree();
  catalog.recordProblems('e1', [{ index: 1, diskId: 'd2', kind: 'checksum_mismatch' }], 'test');
  assert.is(catalog.extentCounts().unrecoverable, 1);
  agree();
  catalog.setDiskState('d1', 'healthy');
  assert.equal(catalog.extentCounts(), { healthy: 1, degraded: 1, unrecoverable: 0, total: 2 });
  catalog.replaceFragments('e1', [{ index: 1, diskId: 'd2', checksum: '22', bytes: 192 }]);
  assert.equal(catalog.extentCounts(), { healthy: 2, degraded: 0, unrecoverable: 0, total: 2 });
  assert.is(catalog.problems().length, 0);
  // Overwrite: the old extents go in the same transaction.
  const removed = catalog.commitObject({ id: 'o2', key: 'a', size: 100, policy: 'ec:2+1', checksum: '0', extents: 1, createdAt: 2 }, [extent('e3', 0, ['d3', 'd1', 'd2'])]);
  assert.equal(removed.map((e) => e.id), ['e1', 'e2']);
  assert.equal(catalog.extentCounts(), { healthy: 1, degraded: 0, unrecoverable: 0, total: 1 });
  assert.is(catalog.disk('d1')!.fragments, 1);
  assert.is(catalog.counters().objects, 1);
  assert.is(catalog.counters().logical_bytes, 100);
  catalog.deleteObject('a');
  assert.equal(catalog.extentCounts(), { healthy: 0, degraded: 0, unrecoverable: 0, total: 0 });
  assert.is(catalog.disk('d1')!.fragments, 0);
});

test('pages of extents in scrub order carry the same rows as one-extent lookups', () => {
  catalog.commitObject({ id: 'o9', key: 'paged', size: 500, policy: 'ec:2+1', checksum: '0', extents: 5, createdAt: 3 },
    Array.from({ length: 5 }, (_, seq) => extent(`p${seq}`, seq, seq % 2 ? ['d3', 'd1', 'd2'] : ['d1', 'd2', 'd3'])));
  catalog.recordProblems('p2', [{ index: 2, diskId: 'd3', kind: 'truncated' }], 'test');
  const all = [...catalog.iterateExtents(2)];
  assert.equal(all.map((e) => e.id), ['p0', 'p1', 'p2', 'p3', 'p4']);
  for (const e of all) assert.equal(e, catalog.extent(e.id));
  assert.is(all[2]!.fragments[2]!.state, 'truncated');
  assert.is(all[2]!.state, 'degraded');
  const after = catalog.extentsAfter(all[1]!.ord, 2);
  assert.equal(after.map((e) => e.id), ['p2', 'p3']);
  catalog.deleteObject('paged');
  assert.equal(catalog.extentsAfter(0, 10), []);
});

test('a commit that expects a version fails when the object changed', () => {
  catalog.commitObject({ id: 'o3', key: 'b', size: 0, policy: 'ec:2+1', checksum: '0', extents: 0, createdAt: 3 }, []);
  assert.throws(() => catalog.commitObject({ id: 'o4', key: 'b', size: 0, policy: 'ec:2+1', checksum: '0', extents: 0, createdAt: 4 }, [], { expectReplace: 'other' }), /DFS_ERR_OBJECT_CHANGED|changed/);
  assert.is(catalog.object('b')!.id, 'o3');
});

test('prefix listing is exact for UTF-8 keys', () => {
  for (const key of ['ü/1', 'ü/2', 'ü0', 'üa', 'u/1', 'ü/\u{10FFFF}x']) catalog.commitObject({ id: `id-${key}`, key, size: 0, policy: 'ec:2+1', checksum: '0', extents: 0, createdAt: 5 }, []);
  assert.equal(catalog.listObjects({ prefix: 'ü/' }).map((o) => o.key), ['ü/1', 'ü/2', 'ü/\u{10FFFF}x']);
  assert.equal(catalog.listObjects({ prefix: 'ü/', after: 'ü/1', limit: 1 }).map((o) => o.key), ['ü/2']);
});

test('a catalogue of an older schema is brought up to date with its rows and counters', () => {
  const path = join(dir, 'old.db');
  const db = new Database(path);
  for (let v = 0; v < 3; v++) {
    db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${v + 1}`);
  }
  db.prepare("INSERT INTO meta (key, value) VALUES ('pool_id', 'p1')").run();
  const insert = db.prepare("INSERT INTO objects (id, key, size, policy, checksum, extents, created_at) VALUES (?, ?, ?, 'ec:2+1', '00', 1, 1)");
  for (const [id, key, size] of [['o2', 'b', 20], ['o1', 'a', 10], ['o3', 'c', 30]] as const) insert.run(id, key, size);
  db.close();
  const upgraded = Catalog.open(path, { poolId: 'p1' });
  try {
    assert.is(upgraded.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.equal(upgraded.listObjects().map((o) => o.key), ['a', 'b', 'c']);
    assert.is(upgraded.objectById('o3')!.key, 'c');
    assert.is(upgraded.counters().objects, 3);
    assert.is(upgraded.counters().logical_bytes, 60);
    upgraded.deleteObject('b');
    assert.is(upgraded.counters().objects, 2, 'the counters\' triggers are back on the rebuilt table');
  } finally {
    upgraded.close();
  }
});

test('a newer schema is refused, a foreign pool id too', () => {
  catalog.close();
  const other = Catalog.open(join(dir, 'catalog.db'));
  other.db.pragma('user_version = 99');
  other.close();
  assert.throws(() => Catalog.open(join(dir, 'catalog.db')), /schema 99/);
  assert.throws(() => Catalog.open(join(dir, 'nope.db')), /missing/);
  rmSync(dir, { recursive: true, force: true });
});

test.run();
