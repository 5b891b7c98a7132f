import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseDisks, formatPolicy, newPoolConfig, parsePolicy, parseSize, policyTolerance, readPoolConfig, writePoolConfig } from '../../src/pool/index.js';
import { ExtentCache } from '../../src/cache/index.js';

test('policies parse, format and refuse what they should', () => {
  assert.equal(parsePolicy('ec:4+2'), { kind: 'ec', k: 4, m: 2 });
  assert.equal(parsePolicy('replication:3'), { kind: 'replication', copies: 3 });
  assert.is(formatPolicy(parsePolicy(' ec:10+4 ')), 'ec:10+4');
  assert.is(policyTolerance(parsePolicy('ec:4+2')), 2);
  assert.is(policyTolerance(parsePolicy('replication:3')), 2);
  for (const bad of ['ec:0+1', 'ec:33+1', 'ec:1+17', 'replication:0', 'replication:9', 'rs:4+2', 'ec:4-2', 'ec:+2', '', 'replication:3x']) {
    assert.throws(() => parsePolicy(bad), /malformed policy/, bad);
  }
});

test('sizes', () => {
  assert.is(parseSize('1MiB'), 1048576);
  assert.is(parseSize('64KiB'), 65536);
  assert.is(parseSize('1.5GiB'), 1.5 * 1024 ** 3);
  assert.is(parseSize('4096'), 4096);
  assert.throws(() => parseSize('lots'), /invalid size/);
});

test('placement: distinct disks, weighted by free space, clear error when short', () => {
  const disks = [{ id: 'big', freeBytes: 1000e9 }, { id: 'small', freeBytes: 1e9 }, { id: 'c', freeBytes: 1000e9 }];
  let smallFirst = 0;
  for (let i = 0; i < 2000; i++) {
    const pick = chooseDisks(disks, 2, 'ec:1+1');
    assert.is(new Set(pick).size, 2);
    if (pick.includes('small')) smallFirst++;
  }
  assert.ok(smallFirst < 40, `the nearly full disk was chosen ${smallFirst} times in 2000`);
  assert.throws(() => chooseDisks(disks, 4, 'ec:2+2'), /ec:2\+2 needs 4 distinct healthy disks, the pool has 3/);
  assert.throws(() => chooseDisks(disks, 1, 'ec:2+2', new Set(['big', 'small', 'c'])), /1 more distinct healthy disk besides the 3/);
});

test('extent cache: bounded by bytes, least recently used first, hits and misses counted', () => {
  const KiB = 4096;
  const cache = new ExtentCache(3 * KiB);
  const block = (n: number) => new Uint8Array(KiB).fill(n);
  cache.set('a', block(1));
  cache.set('b', block(2));
  cache.set('c', block(3));
  cache.get('a')!.release(); // a is now most recent
  cache.set('d', block(4)); // evicts b
  assert.is(cache.get('b'), undefined);
  const a = cache.get('a')!;
  assert.is(a.data[0], 1);
  a.release();
  const d = cache.get('d')!;
  assert.is(d.data[0], 4);
  d.release();
  const s = cache.stats();
  assert.is(s.bytes, 3 * KiB);
  assert.is(s.entries, 3);
  assert.is(s.hits, 3);
  assert.is(s.misses, 1);
  assert.is(s.evictions, 1);
  assert.is(s.hitRate, 0.75);
  cache.set('huge', new Uint8Array(3 * KiB + 1));
  assert.is(cache.get('huge'), undefined);
});

test('extent cache: an evicted entry keeps its bytes until its reader releases them', () => {
  const KiB = 4096;
  const cache = new ExtentCache(2 * KiB);
  cache.set('a', new Uint8Array(KiB).fill(1));
  cache.set('b', new Uint8Array(KiB).fill(2));
  const a = cache.get('a')!; // pinned
  cache.delete('a');
  cache.set('c', new Uint8Array(KiB).fill(3)); // b goes; a's block is still held
  cache.set('e', new Uint8Array(KiB).fill(5));
  assert.ok(a.data.every((x) => x === 1), 'a reader\'s bytes were written over');
  assert.is(cache.get('a'), undefined);
  a.release();
  cache.set('f', new Uint8Array(KiB).fill(6)); // a's block is free again
  const f = cache.get('f')!;
  assert.ok(f.data.every((x) => x === 6));
  f.release();
  assert.ok(cache.stats().bytes <= 2 * KiB);
});

test('pool.json is validated when read: each bad field is named, with what it should be', () => {
  const root = mkdtempSync(join(tmpdir(), 'dfs-config-'));
  try {
    mkdirSync(root, { recursive: true });
    const good = newPoolConfig({});
    writePoolConfig(root, good);
    assert.equal(readPoolConfig(root).scrub.frequency, 'nightly');
    const path = join(root, 'pool.json');
    const original = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ cache: { maxBytes: -1 } }, /cache\.maxBytes is -1, want a number ≥ 0/],
      [{ gc: { graceSeconds: 'soon' } }, /gc\.graceSeconds is "soon"/],
      [{ disks: [{ id: 1 }] }, /disks is .*want \[\{id, path\}\]/],
      [{ scrub: { ...good.scrub, frequency: 'hourly' } }, /scrub\.frequency is "hourly", want nightly, continuous or manual/],
      [{ scrub: { ...good.scrub, autoRepair: 'yes' } }, /scrub\.autoRepair/],
    ];
    for (const [change, message] of cases) {
      writeFileSync(path, JSON.stringify({ ...original, ...change }));
      assert.throws(() => readPoolConfig(root), (e: Error & { code?: string }) => e.code === 'DFS_ERR_POOL_FORMAT' && message.test(e.message), JSON.stringify(change));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
