// Disks as an operator meets them: one vanishes (its folder renamed away),
// reads go on exactly, rebuild restores full redundancy off it; remove-disk
// drains a disk before it leaves; fail-disk and set-disk-health; probe-disks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { makePool, fragmentFiles, type TestPool } from '../helpers/cli.js';

const EXTENT = 64 * 1024;
let pool: TestPool;
const objects: { key: string; bytes: Uint8Array }[] = [];

function readsExact(p: TestPool): void {
  for (const o of objects) {
    const got = p.run('get', o.key);
    assert.is(got.code, 0, `${o.key}: ${got.stderr}`);
    assert.ok(Buffer.compare(got.raw, Buffer.from(o.bytes)) === 0, `${o.key}: bytes differ`);
  }
}

function diskIdOf(p: TestPool, path: string): string {
  const disks = p.run('list-disks', '--json').json.disks as { id: string; path: string }[];
  return disks.find((d) => d.path === path)!.id;
}

test.before(() => {
  // ec:4+2, replication:3 and ec:2+1 objects on 8 disks: room to rebuild and to drain.
  pool = makePool({ disks: 8, extentSize: '64KiB' });
  for (const [i, policy] of ['ec:4+2', 'replication:3', 'ec:2+1'].entries()) {
    const f = pool.file(`obj${i}`, 5 * EXTENT + 99 * i, 40 + i);
    assert.is(pool.run('put', f.path, '--key', `obj${i}`, '--policy', policy).code, 0);
    objects.push({ key: `obj${i}`, bytes: f.bytes });
  }
});
test.after(() => pool.cleanup());

test('init leaves a 0600 API token; list-disks has the documented fields', () => {
  assert.is(statSync(join(pool.pool, 'token')).mode & 0o777, 0o600);
  assert.ok(readFileSync(join(pool.pool, 'token'), 'utf8').trim().length >= 32);
  const disks = pool.run('list-disks', '--json').json.disks as Record<string, unknown>[];
  assert.is(disks.length, 8);
  for (const d of disks) {
    for (const field of ['id', 'path', 'state', 'capacityBytes', 'usedBytes', 'fragments']) assert.ok(field in d, `list-disks lacks ${field}`);
    assert.is(d.state, 'healthy');
    assert.ok((d.capacityBytes as number) > 0);
  }
  // 5 extents x 6 (ec:4+2) + 6 x 3 (replication:3) + 6 x 3 (ec:2+1)
  assert.is(disks.reduce((n, d) => n + (d.fragments as number), 0), 30 + 18 + 18);
});

test('a disk whose folder vanished: reads stay exact, rebuild restores full redundancy elsewhere', () => {
  const victim = pool.disks[1]!;
  const victimId = diskIdOf(pool, victim);
  renameSync(victim, `${victim}.gone`);
  readsExact(pool);
  const health = pool.run('health', '--json');
  assert.is(health.code, 3);
  assert.is(health.json.status, 'degraded');
  const rebuild = pool.run('rebuild', '--json');
  assert.is(rebuild.code, 0, rebuild.stderr);
  assert.equal(rebuild.json.disksFailed, [victimId]);
  assert.ok(rebuild.json.extentsRepaired > 0);
  assert.is(rebuild.json.extents.degraded, 0);
  assert.is(rebuild.json.extents.unrecoverable, 0);
  const extents = pool.run('list-extents', '--json').json.extents as { state: string; fragments: { diskId: string }[] }[];
  for (const e of extents) {
    assert.is(e.state, 'healthy');
    assert.not.ok(e.fragments.some((f) => f.diskId === victimId), 'a fragment still lives on the failed disk');
  }
  readsExact(pool);
  // The journal: the disk failed by the rebuild (its folder gone), and each fragment rebuilt off it.
  const journal = pool.run('events', '--disk', victimId, '--json').json.events as { type: string; trigger: string; state: string | null; toDisk: string | null; result: string }[];
  assert.ok(journal.some((e) => e.type === 'disk_state' && e.state === 'failed' && e.trigger === 'rebuild'));
  const rebuilt = journal.filter((e) => e.type === 'repair');
  assert.is(rebuilt.length, rebuild.json.fragmentsRebuilt);
  assert.ok(rebuilt.every((e) => e.trigger === 'rebuild' && e.toDisk !== victimId && e.result === 'repaired'));
  // The failed disk leaves the pool (nothing to move), and the pool is healthy again.
  const removed = pool.run('remove-disk', '--disk', victimId, '--json');
  assert.is(removed.code, 0, removed.stderr);
  const after = pool.run('health', '--json');
  assert.is(after.code, 0, JSON.stringify(after.json));
  assert.is(after.json.status, 'healthy');
});

test('remove-disk drains every fragment onto other disks before the disk leaves', () => {
  const victim = pool.disks[3]!;
  const victimId = diskIdOf(pool, victim);
  const onVictim = fragmentFiles([victim]).length;
  assert.ok(onVictim > 0);
  const r = pool.run('remove-disk', '--disk', victim, '--json');
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.removed, true);
  assert.is(r.json.fragmentsMoved, onVictim);
  assert.is(fragmentFiles([victim]).length, 0);
  // Each move is a repair event of the drain, `moved` (the fragment was good), checked as it landed.
  const moves = (pool.run('events', '--type', 'repair', '--disk', victimId, '--json').json.events as { trigger: string; result: string; writtenChecksum: string; expectedChecksum: string; kind: string | null }[]);
  assert.is(moves.length, onVictim);
  assert.ok(moves.every((e) => e.trigger === 'drain' && e.result === 'moved' && e.kind === null && e.writtenChecksum === e.expectedChecksum));
  assert.not.ok(existsSync(join(victim, 'dynamicfs-disk.json')), 'label left behind');
  const disks = pool.run('list-disks', '--json').json.disks as { id: string }[];
  assert.not.ok(disks.some((d) => d.id === victimId));
  readsExact(pool);
  assert.is(pool.run('health', '--json').json.status, 'healthy');
});

test('with too few disks left, remove-disk refuses and keeps the disk', () => {
  // 6 disks remain; without one of them ec:4+2 (6 fragments) has nowhere to go.
  const victim = pool.disks[4]!;
  const r = pool.run('remove-disk', '--disk', victim);
  assert.is(r.code, 1);
  assert.match(r.stderr, /DFS_ERR_DISK_DRAIN_INCOMPLETE/);
  assert.ok(existsSync(join(victim, 'dynamicfs-disk.json')));
  readsExact(pool);
  assert.is(pool.run('set-disk-health', '--disk', victim, '--state', 'healthy').code, 0);
});

test('fail-disk degrades extents; set-disk-health brings it back; probe-disks finds a missing folder', () => {
  const victim = pool.disks[5]!;
  const failed = pool.run('fail-disk', '--disk', victim, '--json');
  assert.is(failed.code, 0, failed.stderr);
  assert.is(failed.json.state, 'failed');
  assert.ok(failed.json.extents.degraded > 0);
  readsExact(pool);
  const back = pool.run('set-disk-health', '--disk', victim, '--state', 'healthy', '--json');
  assert.is(back.json.state, 'healthy');
  assert.is(pool.run('status', '--json').json.extents.degraded, 0);
  const bad = pool.run('set-disk-health', '--disk', victim, '--state', 'sparkly');
  assert.match(bad.stderr, /DFS_ERR_DISK_STATE_INVALID/);
  const probe = pool.run('probe-disks', '--json');
  assert.is(probe.code, 0, probe.stdout);
  assert.ok(probe.json.disks.every((d: { probeOk: boolean; state: string }) => d.probeOk && d.state === 'healthy'));
  renameSync(victim, `${victim}.away`);
  const probe2 = pool.run('probe-disks', '--json');
  assert.is(probe2.code, 3);
  const gone = probe2.json.disks.find((d: { path: string }) => d.path === victim);
  assert.is(gone.exists, false);
  assert.is(gone.state, 'failed');
  renameSync(`${victim}.away`, victim);
  readsExact(pool);
});

test.run();
