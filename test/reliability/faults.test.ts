// Disk faults injected below the engine (DYNAMICFS_FAULTS, see src/faults):
// EIO on read, write and fsync; ENOSPC on one disk and on all; a slow disk;
// a disk folder removed while a daemon writes to it. Each case checks the
// pass criteria: a clear coded error or a transparent recovery, the disk
// marked as it should be, errors counted in the metrics, writes acknowledged
// only with every fragment durable, nothing acknowledged lost, the daemon up.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renameSync } from 'node:fs';
import { cli, expectCoded, fragmentFiles, makePool, type CliResult, type TestPool } from '../helpers/cli.js';
import { startDaemon } from '../helpers/daemon.js';

interface Fault { op: 'open' | 'write' | 'fsync' | 'rename' | 'unlink' | 'read'; disk?: string; errno?: string; delayMs?: number; after?: number; times?: number }

function withFaults(pool: TestPool, faults: Fault[], ...args: string[]): CliResult {
  return cli(['--pool', pool.pool, ...args], { env: { DYNAMICFS_FAULTS: JSON.stringify(faults) } });
}

function diskStates(pool: TestPool): Map<string, string> {
  const r = pool.run('list-disks', '--json');
  assert.is(r.code, 0, r.stderr);
  return new Map((r.json.disks as { path: string; state: string }[]).map((d) => [d.path, d.state]));
}

function readsBack(pool: TestPool, key: string, bytes: Uint8Array): void {
  const r = pool.run('get', key);
  assert.is(r.code, 0, `get ${key}: ${r.stderr}`);
  assert.ok(Buffer.from(r.raw).equals(Buffer.from(bytes)), `${key} reads back exactly`);
}

/** Runs `fn` on a fresh pool of seven disks under ec:4+2 (one may fail while puts still find six), removed afterwards. */
async function inPool7(fn: (pool: TestPool) => void | Promise<void>): Promise<void> {
  const pool = makePool({ disks: 7, extentSize: '64KiB' });
  try {
    await fn(pool);
  } finally {
    pool.cleanup();
  }
}

test('EIO on fsync of one disk: the put succeeds on the others, the disk turns suspect', () => inPool7((pool) => {
  const bad = `${pool.disks[2]}/`;
  const f = pool.file('a', 300_000, 1);
  const r = withFaults(pool, [{ op: 'fsync', disk: bad, errno: 'EIO' }], 'put', f.path, '--key', 'a');
  assert.is(r.code, 0, r.stderr);
  assert.is(diskStates(pool).get(pool.disks[2]!), 'suspect');
  readsBack(pool, 'a', f.bytes);
  assert.ok(!fragmentFiles([pool.disks[2]!]).some((p) => !p.includes('.tmp-')), 'no acknowledged fragment on the disk whose fsync failed');
  assert.is(pool.run('scrub').code, 0);
}));

test('EIO on write and ENOSPC on one disk: the put goes around it; ENOSPC leaves the disk healthy', () => inPool7((pool) => {
  const f = pool.file('b', 200_000, 2);
  const r = withFaults(pool, [{ op: 'write', disk: `${pool.disks[0]}/`, errno: 'EIO' }, { op: 'write', disk: `${pool.disks[1]}/`, errno: 'ENOSPC' }], 'put', f.path, '--key', 'b');
  assert.is(diskStates(pool).get(pool.disks[0]!), 'suspect');
  // Two of seven disks refuse writes: six are needed, five remain — the put must fail, coded, and leave nothing.
  assert.is(expectCoded(r, 'DFS_ERR_WRITE_FAILED'), null, r.stderr);
  assert.is(pool.run('stat', 'b').code, 1);
  // The disk that failed a write is suspect now; an operator returns it once it is checked.
  assert.is(pool.run('set-disk-health', '--disk', pool.disks[0]!, '--state', 'healthy').code, 0);
  const g = pool.file('c', 200_000, 3);
  const ok = withFaults(pool, [{ op: 'write', disk: `${pool.disks[1]}/`, errno: 'ENOSPC' }], 'put', g.path, '--key', 'c');
  assert.is(ok.code, 0, ok.stderr);
  const states = diskStates(pool);
  assert.is(states.get(pool.disks[1]!), 'healthy', 'a full disk is not a broken disk');
  readsBack(pool, 'c', g.bytes);
  assert.is(pool.run('gc', '--grace', '0', '--json').code, 0);
  assert.is(fragmentFiles(pool.disks).filter((p) => p.includes('.tmp-')).length, 0);
}));

test('ENOSPC on every disk: the put fails with a coded error, nothing is acknowledged, older objects are intact', () => inPool7((pool) => {
  const old = pool.file('old', 150_000, 4);
  assert.is(pool.run('put', old.path, '--key', 'old').code, 0);
  const f = pool.file('new', 150_000, 5);
  const r = withFaults(pool, [{ op: 'write', errno: 'ENOSPC' }], 'put', f.path, '--key', 'old');
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /^error: .*\(DFS_ERR_[A-Z_]+\)\n$/);
  assert.not.match(r.stderr, /\n\s+at /);
  readsBack(pool, 'old', old.bytes);
  assert.equal((pool.run('ls', '--json').json.objects as { key: string }[]).map((o) => o.key), ['old']);
  assert.is(pool.run('gc', '--grace', '0').code, 0);
  assert.is(pool.run('scrub').code, 0);
}));

test('EIO on read: within redundancy reads stay exact and the problem is recorded; beyond it the read fails coded, never with wrong bytes', () => inPool7((pool) => {
  const f = pool.file('r', 250_000, 6);
  assert.is(pool.run('put', f.path, '--key', 'r').code, 0);
  const one = withFaults(pool, [{ op: 'read', disk: `${pool.disks[3]}/`, errno: 'EIO' }], 'get', 'r');
  assert.is(one.code, 0, one.stderr);
  assert.ok(Buffer.from(one.raw).equals(Buffer.from(f.bytes)));
  const four: Fault[] = pool.disks.slice(0, 4).map((d) => ({ op: 'read', disk: `${d}/`, errno: 'EIO' }));
  const three = withFaults(pool, four, 'get', 'r');
  // Four of seven disks unreadable: every extent (six fragments on six of the seven disks) loses at least three.
  assert.is(expectCoded(three, 'DFS_ERR_EXTENT_UNRECOVERABLE'), null);
  assert.is(three.raw.length % (64 * 1024), 0, 'only whole verified extents were written before the failure');
  // The faults were in the reads, not in the files: a scrub with repair finds the recorded problems gone.
  assert.is(pool.run('scrub', '--repair').code, 0);
  readsBack(pool, 'r', f.bytes);
}));

test('a slow disk slows a put down but it completes exactly', () => inPool7((pool) => {
  const f = pool.file('s', 200_000, 7);
  const started = Date.now();
  const r = withFaults(pool, [{ op: 'fsync', disk: `${pool.disks[5]}/`, delayMs: 150 }], 'put', f.path, '--key', 's');
  assert.is(r.code, 0, r.stderr);
  assert.ok(Date.now() - started >= 150, 'the delay was applied');
  assert.is(diskStates(pool).get(pool.disks[5]!), 'healthy');
  readsBack(pool, 's', f.bytes);
}));

test('under a daemon: write faults are counted in the metrics, a disk removed mid-work is failed, the daemon stays up and loses nothing', async () => {
  // Eight disks: one turns suspect, one vanishes, six remain for ec:4+2.
  const pool = makePool({ disks: 8, extentSize: '64KiB' });
  const bad = pool.disks[4]!;
  const daemon = await startDaemon(pool.pool, ['serve'], { DYNAMICFS_FAULTS: JSON.stringify([{ op: 'fsync', disk: `${bad}/`, errno: 'EIO', times: 1 }]) });
  const auth = { authorization: `Bearer ${daemon.token}` };
  try {
    const acknowledged = new Map<string, Buffer>();
    const put = async (key: string, size: number, seed: number) => {
      const body = Buffer.from(pool.file(`${key.replace(/\//g, '_')}.in`, size, seed).bytes);
      const r = await fetch(`${daemon.url}/v1/objects/${encodeURIComponent(key)}`, { method: 'PUT', body, headers: auth });
      if (r.status === 200) acknowledged.set(key, body);
      return r;
    };
    assert.is((await put('one', 200_000, 10)).status, 200);
    const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
    const diskId = ((await (await fetch(`${daemon.url}/v1/disks`, { headers: auth })).json()) as { disks: { id: string; path: string; state: string }[] }).disks.find((d) => d.path === bad)!;
    assert.is(diskId.state, 'suspect');
    assert.match(metrics, new RegExp(`^dynamicfs_disk_errors_total\\{disk="${diskId.id}"\\} [1-9]`, 'm'));
    // Another disk vanishes while puts run.
    const writes = Array.from({ length: 6 }, (_, i) => put(`many/${i}`, 300_000, 20 + i));
    renameSync(pool.disks[7]!, `${pool.disks[7]}.gone`);
    const answers = await Promise.all(writes);
    for (const r of answers) {
      assert.ok(r.status === 200 || (r.status >= 400 && r.status < 600 && /DFS_ERR_/.test(await r.text())), `status ${r.status}`);
      assert.ok(r.status !== 500, 'no internal error');
    }
    const health = await fetch(`${daemon.url}/health`);
    assert.ok([200, 202, 503].includes(health.status), 'the daemon still answers');
    for (const [key, body] of acknowledged) {
      const got = Buffer.from(await (await fetch(`${daemon.url}/v1/objects/${encodeURIComponent(key)}`, { headers: auth })).arrayBuffer());
      assert.ok(got.equals(body), `${key} reads back exactly`);
    }
    // With the vanished disk marked failed, six healthy disks remain: puts work again.
    assert.is((await put('after', 200_000, 40)).status, 200);
    assert.is(((await (await fetch(`${daemon.url}/v1/disks`, { headers: auth })).json()) as { disks: { path: string; state: string }[] }).disks.find((d) => d.path === pool.disks[7])!.state, 'failed');
    const again = await fetch(`${daemon.url}/v1/objects/after`, { headers: auth });
    assert.ok(Buffer.from(await again.arrayBuffer()).equals(acknowledged.get('after')!));
  } finally {
    assert.is(await daemon.stop(), 0, `the daemon stops cleanly: ${daemon.stderr().slice(-2000)}`);
    pool.cleanup();
  }
});

test.run();
