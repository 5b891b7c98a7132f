// Every read verifies the fragments it uses: a damaged one is skipped, the
// extent is rebuilt from the others and the problem recorded; past the
// redundancy the read fails with DFS_ERR_EXTENT_UNRECOVERABLE and never
// returns wrong bytes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makePool, type TestPool } from '../helpers/cli.js';

const EXTENT = 64 * 1024;
let pool: TestPool;
let data: Uint8Array;

interface Fragment { index: number; path: string; state: string; diskId: string }
function fragmentsOf(key: string, seq: number): Fragment[] {
  const extents = pool.run('list-extents', '--key', key, '--json').json.extents as { seq: number; fragments: Fragment[] }[];
  return extents.find((e) => e.seq === seq)!.fragments;
}

function flipPayloadByte(path: string, offsetFromEnd = 100): void {
  const bytes = readFileSync(path);
  bytes[bytes.length - offsetFromEnd]! ^= 0x40;
  writeFileSync(path, bytes);
}

test.before(() => {
  pool = makePool({ disks: 6, extentSize: '64KiB' });
  const f = pool.file('v', 4 * EXTENT + 77, 11);
  data = f.bytes;
  for (const policy of ['ec:4+2', 'replication:3']) assert.is(pool.run('put', f.path, '--key', policy, '--policy', policy).code, 0);
});
test.after(() => pool.cleanup());

for (const policy of ['ec:4+2', 'replication:3']) {
  test(`${policy}: bit flip, truncation and deletion within redundancy read exactly and are recorded`, () => {
    const frags = fragmentsOf(policy, 1);
    flipPayloadByte(frags[0]!.path);
    truncateSync(fragmentsOf(policy, 2)[0]!.path, 200);
    rmSync(fragmentsOf(policy, 3)[0]!.path);
    const got = pool.run('get', policy);
    assert.is(got.code, 0, got.stderr);
    assert.ok(Buffer.compare(got.raw, Buffer.from(data)) === 0, 'bytes differ');
    const states = [1, 2, 3].map((seq) => fragmentsOf(policy, seq)[0]!.state);
    assert.equal(states, ['checksum_mismatch', 'truncated', 'missing']);
    const stat = pool.run('stat', policy, '--json');
    assert.is(stat.code, 3);
    assert.is(stat.json.extentStates.degraded, 3);
    // rebuild repairs them in place; the object is healthy again.
    const rebuild = pool.run('rebuild', '--json');
    assert.is(rebuild.code, 0, rebuild.stdout + rebuild.stderr);
    assert.is(pool.run('stat', policy, '--json').json.extentStates.healthy, 5);
    assert.ok(Buffer.compare(pool.run('get', policy).raw, Buffer.from(data)) === 0);
  });
}

test('ec:4+2 past its redundancy: get fails with a code, -o leaves no file, other extents still read', () => {
  const frags = fragmentsOf('ec:4+2', 0);
  for (const f of frags.slice(0, 3)) flipPayloadByte(f.path, 10);
  const out = join(pool.root, 'out');
  const r = pool.run('get', 'ec:4+2', '-o', out);
  assert.is(r.code, 1);
  assert.match(r.stderr, /^error: .*extent 0 .*\(DFS_ERR_EXTENT_UNRECOVERABLE\)\n$/);
  assert.not.ok(existsSync(out), 'partial output left');
  const stdout = pool.run('get', 'ec:4+2');
  assert.is(stdout.code, 1);
  assert.is(stdout.raw.length, 0, 'bytes of an unrecoverable extent were written');
  const health = pool.run('health', '--json');
  assert.is(health.code, 3);
  assert.is(health.json.status, 'critical');
  assert.is(health.json.checks.extents.unrecoverable, 1);
  // Replication holds the same data and is untouched.
  assert.ok(Buffer.compare(pool.run('get', 'replication:3').raw, Buffer.from(data)) === 0);
  const rebuild = pool.run('rebuild', '--json');
  assert.is(rebuild.code, 3);
  assert.is(rebuild.json.unrecoverable.length, 1);
});

test.run();
