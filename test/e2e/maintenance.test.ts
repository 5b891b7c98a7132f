// change-policy, recover-catalog, gc after an interrupted put, and the owner lock.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { cliAsync, fragmentFiles, makePool, type TestPool } from '../helpers/cli.js';
import { randomBytes } from '../helpers/gf-reference.js';

const EXTENT = 64 * 1024;
let pool: TestPool;
const objects = new Map<string, Uint8Array>();

function readsExact(): void {
  for (const [key, bytes] of objects) {
    const got = pool.run('get', key);
    assert.is(got.code, 0, `${key}: ${got.stderr}`);
    const want = Buffer.from(bytes);
    const firstDiff = got.raw.findIndex((b, i) => b !== want[i]);
    assert.ok(Buffer.compare(got.raw, want) === 0, `${key}: bytes differ (got ${got.raw.length} bytes, want ${want.length}, first difference at ${firstDiff})`);
  }
}

function catalogFragmentPaths(): string[] {
  const extents = pool.run('list-extents', '--json').json.extents as { fragments: { path: string }[] }[];
  return extents.flatMap((e) => e.fragments.map((f) => f.path)).sort();
}

test.before(() => {
  pool = makePool({ disks: 6, extentSize: '64KiB' });
  for (const [i, policy] of ['ec:4+2', 'replication:2', 'ec:2+1', 'replication:1'].entries()) {
    const f = pool.file(`m${i}`, 3 * EXTENT + 1000 * i + 1, 70 + i);
    assert.is(pool.run('put', f.path, '--key', `dir/m${i} ü`, '--policy', policy).code, 0);
    objects.set(`dir/m${i} ü`, f.bytes);
  }
});
test.after(() => pool.cleanup());

test('change-policy ec -> replication -> ec keeps content and moves to the new layout', () => {
  const key = 'dir/m0 ü';
  for (const policy of ['replication:3', 'ec:3+2']) {
    const r = pool.run('change-policy', key, '--policy', policy, '--json');
    assert.is(r.code, 0, r.stderr);
    assert.is(r.json.changed[0].to, policy);
    assert.is(pool.run('stat', key, '--json').json.policy, policy);
    readsExact();
  }
  const all = pool.run('change-policy', '--all', '--policy', 'ec:2+2', '--json');
  assert.is(all.code, 0, all.stderr);
  assert.is(all.json.changed.length, objects.size);
  readsExact();
  // Only the new fragments remain on disk.
  assert.equal(fragmentFiles(pool.disks), catalogFragmentPaths());
  // Each re-encoding is a rewrite event in the journal: 2 of one object, then one per object.
  const rewrites = pool.run('events', '--type', 'rewrite', '--json').json.events as { key: string; trigger: string; reason: string; writtenChecksum: string }[];
  assert.is(rewrites.length, 2 + objects.size);
  assert.ok(rewrites.every((e) => e.trigger === 'change-policy' && / → /.test(e.reason)));
  assert.is(rewrites.at(-1)!.writtenChecksum, pool.run('stat', rewrites.at(-1)!.key, '--json').json.checksum);
  const none = pool.run('change-policy', '--policy', 'ec:2+2');
  assert.match(none.stderr, /DFS_ERR_CLI_USAGE/);
});

test('recover-catalog rebuilds catalog.db from fragment headers alone', () => {
  const before = pool.run('ls', '--json').json.objects as { key: string; size: number; checksum: string; policy: string }[];
  for (const f of readdirSync(pool.pool)) if (f.startsWith('catalog.db')) rmSync(join(pool.pool, f));
  const broken = pool.run('ls');
  assert.is(broken.code, 1);
  assert.match(broken.stderr, /DFS_ERR_CATALOG_CORRUPT/);
  const r = pool.run('recover-catalog', '--json');
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.objectsRecovered, objects.size);
  assert.is(r.json.fragmentsInvalid, 0);
  const after = pool.run('ls', '--json').json.objects as typeof before;
  assert.equal(after.map((o) => [o.key, o.size, o.checksum, o.policy]), before.map((o) => [o.key, o.size, o.checksum, o.policy]));
  readsExact();
  // Headers are not payloads: until a scrub has verified them, health says so.
  assert.is(pool.run('health', '--json').json.checks.verification.status, 'degraded');
  assert.is(pool.run('scrub').code, 0);
  assert.is(pool.run('health', '--json').json.status, 'healthy');
  // A second recovery keeps the first catalogue as a backup, and its journal.
  assert.is(pool.run('set-disk-health', '--disk', pool.disks[0]!, '--state', 'healthy').code, 0);
  assert.is(pool.run('fail-disk', '--disk', pool.disks[0]!).code, 0);
  const journal = pool.run('events', '--json').json.events as { id: number; type: string }[];
  assert.ok(journal.some((e) => e.type === 'disk_state'));
  const again = pool.run('recover-catalog', '--json');
  assert.ok(again.json.backup && existsSync(again.json.backup));
  assert.is(again.json.eventsKept, journal.length);
  assert.equal((pool.run('events', '--json').json.events as { id: number }[]).map((e) => e.id), journal.map((e) => e.id));
});

test('gc removes the leftovers of an interrupted put and nothing else', async () => {
  const committed = catalogFragmentPaths();
  const child = cliAsync(['--pool', pool.pool, 'put', '-', '--key', 'interrupted', '--policy', 'ec:4+2']);
  child.stdin!.on('error', () => {});
  child.stdin!.write(randomBytes(20 * EXTENT, 5));
  // Wait for fragments of the new object to land, then kill -9 before it ends.
  const deadline = Date.now() + 20_000;
  while (fragmentFiles(pool.disks).length < committed.length + 12 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  const leftovers = fragmentFiles(pool.disks).filter((p) => !committed.includes(p));
  assert.ok(leftovers.length >= 12, `expected leftovers, found ${leftovers.length}`);
  // The killed process held the lock: the next command takes the stale lock over.
  const ls = pool.run('ls', '--json');
  assert.is(ls.code, 0, ls.stderr);
  assert.not.ok(ls.json.objects.some((o: { key: string }) => o.key === 'interrupted'));
  // status knows of the killed put; gc takes its files at once, though they are young, and only
  // them: a young orphan of no interrupted write (a stray copy of a committed fragment) stays.
  const status = pool.run('status', '--json');
  assert.equal(status.json.interruptedWrites.map((w: { key: string }) => w.key), ['interrupted']);
  assert.match(pool.run('status').stdout, /reclaimable: 1 interrupted put left files behind \("interrupted", pid \d+\)/);
  const stray = committed[0]!.replace(/[0-9a-f]{32}/, '0'.repeat(32));
  copyFileSync(committed[0]!, stray);
  const dry = pool.run('gc', '--dry-run', '--json');
  assert.is(dry.json.orphanFragments + dry.json.tempFiles, leftovers.length);
  assert.is(fragmentFiles(pool.disks).length, committed.length + leftovers.length + 1, 'dry run removed something');
  const gc = pool.run('gc', '--json');
  assert.is(gc.code, 0, gc.stderr);
  assert.is(gc.json.orphanFragments + gc.json.tempFiles, leftovers.length);
  assert.equal(gc.json.interruptedWrites.map((w: { key: string }) => w.key), ['interrupted']);
  assert.equal(fragmentFiles(pool.disks), [...committed, stray].sort(), 'gc took more than the killed put left');
  assert.equal(pool.run('status', '--json').json.interruptedWrites, []);
  const old = pool.run('gc', '--grace', '0', '--json');
  assert.is(old.json.orphanFragments, 1, 'the stray copy, once past the grace period');
  assert.equal(fragmentFiles(pool.disks), committed);
  readsExact();
});

test('a live owner makes the pool locked, naming its pid', () => {
  // This test process is alive: a lock naming it must be respected.
  writeFileSync(join(pool.pool, 'run', 'owner.lock'), JSON.stringify({ pid: process.pid, host: hostname(), role: 'test', since: new Date().toISOString() }));
  const r = pool.run('ls');
  assert.is(r.code, 1);
  assert.match(r.stderr, new RegExp(`^error: .*pid ${process.pid}.*\\(DFS_ERR_POOL_LOCKED\\)\\n$`));
  rmSync(join(pool.pool, 'run', 'owner.lock'));
  assert.is(pool.run('ls').code, 0);
});

test.run();
