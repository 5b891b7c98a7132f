// The kernel worker pool: real piscina threads, real fragment files.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKernels } from '../../src/kernels/public.js';
import { KernelPool } from '../../src/kernels/pool.js';
import { validateWorkerPoolOptions, defaultWorkerPoolOptions } from '../../src/kernels/pool-options.js';
import { SCRUB_STATUSES, fragmentLengthFor, type FragmentSource } from '../../src/kernels/tasks.js';
import { isDfsError } from '../../src/errors.js';
import { randomBytes } from '../helpers/gf-reference.js';

const HEADER = 64; // a stand-in header in front of each payload

interface Extent {
  k: number;
  m: number;
  bytes: Uint8Array;
  fragmentLength: number;
  sources: FragmentSource[];
  payloads: Uint8Array[];
}

const dir = mkdtempSync(join(tmpdir(), 'dfs-pool-'));
const kernels = await createKernels();

function writeExtent(name: string, k: number, m: number, size: number, seed: number): Extent {
  const bytes = randomBytes(size, seed);
  const fragmentLength = fragmentLengthFor(size, k);
  const data = Array.from({ length: k }, (_, i) => {
    const f = new Uint8Array(fragmentLength);
    f.set(bytes.subarray(i * fragmentLength, Math.min(size, (i + 1) * fragmentLength)));
    return f;
  });
  const payloads = [...data, ...kernels.rsEncode(k, m, data)];
  const sources = payloads.map((payload, i) => {
    const path = join(dir, `${name}.${i}`);
    const file = new Uint8Array(HEADER + payload.length);
    file.fill(0xee, 0, HEADER);
    file.set(payload, HEADER);
    writeFileSync(path, file);
    return { path, offset: HEADER, expected: kernels.xxh3(payload) };
  });
  return { k, m, bytes, fragmentLength, sources, payloads };
}

const test = suite('worker-pool');
let pool: KernelPool;
test.before(() => {
  pool = new KernelPool({ minThreads: 2, maxThreads: 2 });
});
test.after(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A hash task: the smallest unit of work, for tests of the pool itself. */
const hashIn = (on: KernelPool, data: Uint8Array) => on.run({ op: 'hash', data });

test('encode in a worker equals encode in this thread', async () => {
  const extent = randomBytes((1 << 20) - 3, 5);
  const result = await pool.encode(4, 2, extent);
  assert.is(result.fragmentLength, fragmentLengthFor(extent.length, 4));
  assert.is(result.extentHash, kernels.xxh3(extent));
  const fl = result.fragmentLength;
  const data = Array.from({ length: 4 }, (_, i) => {
    const f = new Uint8Array(fl);
    f.set(extent.subarray(i * fl, Math.min(extent.length, (i + 1) * fl)));
    return f;
  });
  const parity = kernels.rsEncode(4, 2, data);
  assert.ok(Buffer.from(result.parity).equals(Buffer.concat(parity)), 'parity bytes');
  assert.equal(result.fragmentHashes, [...data, ...parity].map((f) => kernels.xxh3(f)));
  assert.ok(!(result.parity.buffer instanceof SharedArrayBuffer), 'parity came back on its own transferred buffer');
});

test('many verify tasks complete under concurrency', async () => {
  const extents = Array.from({ length: 12 }, (_, i) => writeExtent(`c${i}`, 4, 2, 300_000 + i * 17, i + 1));
  const results = await Promise.all(
    extents.map((e) => pool.run({ op: 'verify',  layout: { kind: 'ec', k: e.k, m: e.m }, fragmentLength: e.fragmentLength, fragments: e.sources, deep: true })),
  );
  results.forEach((r, i) => {
    assert.equal(r.fragments.map((f) => f.status), new Array(6).fill('ok'), `extent ${i}`);
    assert.is(r.parityConsistent, true);
    assert.is(r.bytesRead, 6 * extents[i]!.fragmentLength);
  });
  assert.ok(pool.stats().completed >= 12);
});

test('verify classifies missing, truncated and corrupt fragments', async () => {
  const e = writeExtent('damaged', 4, 2, 100_000, 77);
  rmSync(e.sources[0]!.path);
  truncateSync(e.sources[1]!.path, HEADER + 10);
  const corrupt = new Uint8Array(HEADER + e.fragmentLength);
  corrupt.set(e.payloads[4]!, HEADER);
  corrupt[HEADER + 5]! ^= 0xff;
  writeFileSync(e.sources[4]!.path, corrupt);
  const r = await pool.run({ op: 'verify',  layout: { kind: 'ec', k: 4, m: 2 }, fragmentLength: e.fragmentLength, fragments: [...e.sources.slice(0, 5), null], deep: true });
  assert.equal(r.fragments.map((f) => f.status), ['missing', 'truncated', 'ok', 'ok', 'checksum_mismatch', 'missing']);
  assert.is(r.parityConsistent, null);
});

test('reconstruct rebuilds from verified fragments only', async () => {
  const e = writeExtent('rebuild', 4, 2, 200_001, 99);
  // Fragment 2 is corrupt on disk; fragment 0 is gone. Only 1,3,4,5 verify: exactly K.
  const bad = new Uint8Array(HEADER + e.fragmentLength);
  bad.set(e.payloads[2]!, HEADER);
  bad[HEADER]! ^= 1;
  writeFileSync(e.sources[2]!.path, bad);
  rmSync(e.sources[0]!.path);
  const r = await pool.reconstruct({ layout: { kind: 'ec', k: 4, m: 2 }, fragmentLength: e.fragmentLength, fragments: e.sources, wanted: [0, 2] });
  assert.equal(r.fragments.map((f) => f.status), ['missing', 'ok', 'checksum_mismatch', 'ok', 'ok', 'ok']);
  const fl = e.fragmentLength;
  assert.ok(Buffer.from(r.rebuilt.subarray(0, fl)).equals(Buffer.from(e.payloads[0]!)), 'fragment 0 rebuilt exactly');
  assert.ok(Buffer.from(r.rebuilt.subarray(fl, 2 * fl)).equals(Buffer.from(e.payloads[2]!)), 'fragment 2 rebuilt exactly, not copied from the corrupt file');
  assert.equal(r.rebuiltHashes, [e.sources[0]!.expected, e.sources[2]!.expected]);
});

test('replication: verify and rebuild a copy', async () => {
  const payload = randomBytes(5000, 3);
  const sources = [0, 1, 2].map((i) => {
    const path = join(dir, `rep.${i}`);
    writeFileSync(path, Buffer.concat([Buffer.alloc(HEADER), payload]));
    return { path, offset: HEADER, expected: kernels.xxh3(payload) };
  });
  writeFileSync(sources[1]!.path, Buffer.alloc(HEADER + 5000, 7));
  const v = await pool.run({ op: 'verify',  layout: { kind: 'replication', copies: 3 }, fragmentLength: 5000, fragments: sources, deep: false });
  assert.equal(v.fragments.map((f) => f.status), ['ok', 'checksum_mismatch', 'ok']);
  const r = await pool.reconstruct({ layout: { kind: 'replication', copies: 3 }, fragmentLength: 5000, fragments: sources, wanted: [1] });
  assert.ok(Buffer.from(r.rebuilt).equals(Buffer.from(payload)));
});

test('an error inside a worker reaches the caller as a coded error', async () => {
  const e = writeExtent('toofew', 4, 2, 10_000, 5);
  for (const i of [0, 1, 2]) rmSync(e.sources[i]!.path);
  try {
    await pool.reconstruct({ layout: { kind: 'ec', k: 4, m: 2 }, fragmentLength: e.fragmentLength, fragments: e.sources, wanted: [0] });
    assert.unreachable('reconstruct with 3 of 6 fragments must fail');
  } catch (error) {
    assert.ok(isDfsError(error, 'DFS_ERR_KERNEL_TOO_FEW_FRAGMENTS'), String(error));
  }
  try {
    await pool.encode(40, 2, new Uint8Array(10));
    assert.unreachable('K=40 must fail');
  } catch (error) {
    assert.ok(isDfsError(error, 'DFS_ERR_KERNEL_K_RANGE'), String(error));
  }
  // The pool still works afterwards.
  assert.is(await pool.run({ op: 'hash', data: new Uint8Array([1, 2, 3]) }), kernels.xxh3(new Uint8Array([1, 2, 3])));
});

test('a batch runs several extents in one task; each member fails on its own', async () => {
  const good = writeExtent('batch-good', 4, 2, 50_000, 11);
  const damaged = writeExtent('batch-bad', 4, 2, 50_000, 12);
  for (const i of [0, 1, 2]) rmSync(damaged.sources[i]!.path);
  const verify = (e: Extent) => ({ op: 'verify' as const, layout: { kind: 'ec' as const, k: 4, m: 2 }, fragmentLength: e.fragmentLength, fragments: e.sources, deep: false });
  const outcomes = await pool.run({ op: 'batch', tasks: [
    verify(good),
    { op: 'reconstruct', layout: { kind: 'ec', k: 4, m: 2 }, fragmentLength: damaged.fragmentLength, fragments: damaged.sources, wanted: [0] },
    { op: 'reconstruct', layout: { kind: 'ec', k: 4, m: 2 }, fragmentLength: good.fragmentLength, fragments: good.sources, wanted: [5] },
    verify(damaged),
  ] }) as ({ ok: true; value: unknown } | { ok: false; error: { code: string } })[];
  assert.is(outcomes.length, 4);
  assert.ok(outcomes[0]!.ok && (outcomes[0]!.value as { fragments: { status: string }[] }).fragments.every((f) => f.status === 'ok'));
  assert.ok(!outcomes[1]!.ok && outcomes[1]!.error.code === 'DFS_ERR_KERNEL_TOO_FEW_FRAGMENTS');
  assert.ok(outcomes[2]!.ok);
  const rebuilt = (outcomes[2] as { value: { rebuilt: Uint8Array } }).value.rebuilt;
  assert.ok(Buffer.from(rebuilt).equals(Buffer.from(good.payloads[5]!)), 'rebuilt parity from a batch');
  assert.ok(outcomes[3]!.ok);
  assert.equal((outcomes[3] as { value: { fragments: { status: string }[] } }).value.fragments.map((f) => f.status), ['missing', 'missing', 'missing', 'ok', 'ok', 'ok']);
});

test('a scrub page: statuses per fragment from the disk folders, an extent that fails fails alone, a bad shape is refused', async () => {
  const disk = join(dir, 'page-disk');
  const id = 'ab'.padEnd(32, '0');
  const folder = join(disk, 'fragments', 'ab');
  mkdirSync(folder, { recursive: true });
  const payload = randomBytes(4096, 21);
  const file = new Uint8Array(HEADER + payload.length).fill(0xee, 0, HEADER);
  file.set(payload, HEADER);
  writeFileSync(join(folder, `${id}.0`), file); // a payload behind a header that is not one
  writeFileSync(join(folder, `${id}.1`), file.subarray(0, 10)); // shorter than a header
  const page = {
    poolId: 'f'.repeat(32), diskPaths: [disk], extentIds: [id, 'cd'.padEnd(32, '0')],
    // extent 0: 4 fragments of 4096 bytes behind 64-byte headers; extent 1: a header length no fragment can have
    shape: new Uint32Array([4096, HEADER, 4, 4096, 5, 2]),
    disks: new Int32Array([0, 0, 0, -1, 0, 0]), // fragment 2 has no file; fragment 3 no disk
    expected: new BigUint64Array([kernels.xxh3(payload), 0n, 0n, 0n, 0n, 0n]),
  };
  const result = await pool.scrubPage(page);
  assert.equal([...result.status.subarray(0, 4)].map((s) => SCRUB_STATUSES[s]), ['header_invalid', 'truncated', 'missing', 'missing']);
  assert.equal([...result.bytes.subarray(0, 4)], [file.length, 10, 0, 0]);
  assert.is(result.errors.length, 1);
  assert.is(result.errors[0]![0], 1);
  assert.is(result.errors[0]![1].code, 'DFS_ERR_KERNEL_FRAGMENT_SHAPE');
  try {
    await pool.scrubPage({ ...page, expected: new BigUint64Array(5) });
    assert.unreachable('a page with one checksum too few was accepted');
  } catch (error) {
    assert.ok(isDfsError(error, 'DFS_ERR_KERNEL_FRAGMENT_SHAPE'), String(error));
  }
});

/** Niceness of each of this process's threads (Linux). */
function threadNiceness(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]); // field 19: nice
  });
}

test('a pool with a niceness runs its threads at that CPU priority, and only its own', async () => {
  if (process.platform !== 'linux') return;
  const before = threadNiceness().filter((n) => n === 12).length;
  const background = new KernelPool({ minThreads: 1, maxThreads: 1 }, { niceness: 12 });
  try {
    await hashIn(background, new Uint8Array(1000)); // the thread exists and has run its start-up
    assert.is(threadNiceness().filter((n) => n === 12).length, before + 1);
    await hashIn(pool, new Uint8Array(1000));
    assert.ok(threadNiceness().filter((n) => n === 0).length >= 3, 'the main thread and the foreground pool keep the process priority');
  } finally {
    await background.close();
  }
  assert.throws(() => new KernelPool({}, { niceness: 25 }), (e: unknown) => isDfsError(e, 'DFS_ERR_CONFIG_INVALID'));
});

test('a full queue is refused with a code', async () => {
  const small = new KernelPool({ minThreads: 1, maxThreads: 1, maxQueue: 1 });
  const big = randomBytes(4 << 20, 1);
  const runs = Array.from({ length: 6 }, () => hashIn(small, big).then(() => 'ok', (e: unknown) => (isDfsError(e) ? e.code : String(e))));
  const outcomes = await Promise.all(runs);
  assert.ok(outcomes.includes('DFS_ERR_WORKER_QUEUE_FULL'), outcomes.join(','));
  assert.ok(outcomes.includes('ok'));
  await small.close();
});

test('close waits for running work; later calls are refused', async () => {
  const p = new KernelPool({ minThreads: 1, maxThreads: 1 });
  const pending = hashIn(p, randomBytes(1 << 20, 2));
  await p.close();
  assert.is(typeof (await pending), 'bigint');
  try {
    await hashIn(p, new Uint8Array(1));
    assert.unreachable('closed pool accepted a task');
  } catch (error) {
    assert.ok(isDfsError(error, 'DFS_ERR_WORKER_CLOSED'), String(error));
  }
});

test('reconfigure applies new options live', async () => {
  const p = new KernelPool({ minThreads: 1, maxThreads: 1 });
  const before = hashIn(p, new Uint8Array(100));
  const applied = await p.reconfigure({ maxThreads: 2, maxQueue: 10 });
  assert.is(applied.maxThreads, 2);
  assert.is(p.options.maxQueue, 10);
  assert.is(typeof (await before), 'bigint');
  assert.is(await hashIn(p, new Uint8Array([9])), kernels.xxh3(new Uint8Array([9])));
  await p.close();
});

test('option validation names the bad option', () => {
  const cases: [unknown, RegExp][] = [
    [{ maxThreads: 0 }, /workers\.maxThreads must be an integer from 1/],
    [{ minThreads: -1 }, /workers\.minThreads/],
    [{ idleTimeoutMs: 'soon' }, /workers\.idleTimeoutMs/],
    [{ concurrentTasksPerWorker: 1.5 }, /workers\.concurrentTasksPerWorker/],
    [{ maxQueue: -3 }, /workers\.maxQueue/],
    [{ minThreads: 4, maxThreads: 2 }, /workers\.minThreads \(4\) must not exceed workers\.maxThreads \(2\)/],
    [{ threads: 2 }, /workers\.threads is not a worker pool option/],
    ['many', /workers must be an object/],
  ];
  for (const [input, pattern] of cases) {
    try {
      validateWorkerPoolOptions(input);
      assert.unreachable(`accepted ${JSON.stringify(input)}`);
    } catch (error) {
      assert.ok(isDfsError(error, 'DFS_ERR_CONFIG_INVALID'), String(error));
      assert.match((error as Error).message, pattern);
    }
  }
  assert.equal(validateWorkerPoolOptions({ maxQueue: 5 }), { ...defaultWorkerPoolOptions(), maxQueue: 5 });
  try {
    new KernelPool({ maxThreads: -1 });
    assert.unreachable('pool accepted maxThreads -1');
  } catch (error) {
    assert.ok(isDfsError(error, 'DFS_ERR_CONFIG_INVALID'));
  }
});

test.run();
