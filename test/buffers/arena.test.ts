// The buffer arena: blocks carved from one SharedArrayBuffer by a buddy
// allocator, leases granted in order of request, all-or-nothing acquisition,
// and puts that share a small arena without deadlock or wrong bytes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BufferArena, MIN_BLOCK } from '../../src/buffers/index.js';
import { Engine, chunkSource, lookupObject, putObject, readObject } from '../../src/store/index.js';
import { readPoolConfig, writePoolConfig } from '../../src/pool/index.js';
import { tempDir } from '../helpers/cli.js';
import { randomBytes } from '../helpers/gf-reference.js';

const MiB = 1024 * 1024;

test('blocks are powers of two, distinct, and merge back when freed', () => {
  const arena = new BufferArena(MiB);
  assert.is(arena.budgetBytes, MiB);
  assert.is(arena.largestBlock, MiB);
  const small = arena.tryAcquire(100)!;
  assert.is(small.blockBytes, MIN_BLOCK);
  assert.is(small.bytes.length, 100);
  const odd = arena.tryAcquire(MIN_BLOCK + 1)!;
  assert.is(odd.blockBytes, 2 * MIN_BLOCK);
  // Leases never overlap: each writes its own byte pattern, and the others keep theirs.
  const many = Array.from({ length: 20 }, () => arena.tryAcquire(MIN_BLOCK)!);
  many.forEach((l, i) => l.bytes.fill(i + 1));
  small.bytes.fill(200);
  odd.bytes.fill(201);
  many.forEach((l, i) => assert.ok(l.bytes.every((x) => x === i + 1), `lease ${i} was written over`));
  assert.is(arena.stats().inUseBytes, 23 * MIN_BLOCK);
  // With one block of the eighth held, half the arena cannot be had in one piece... until it is freed.
  for (const l of many) l.release();
  small.release();
  assert.is(arena.tryAcquire(MiB), null, 'a block is still held');
  odd.release();
  odd.release(); // a second release does nothing
  const whole = arena.tryAcquire(MiB);
  assert.ok(whole, 'every block merged back into one');
  whole!.release();
  assert.equal(arena.stats().inUseBytes, 0);
});

test('an arena of any size is cut into aligned blocks; too large a request is a coded error', () => {
  const arena = new BufferArena(3 * MiB + 5000);
  assert.is(arena.budgetBytes, 3 * MiB + 4096);
  assert.is(arena.largestBlock, 2 * MiB);
  const a = arena.tryAcquire(2 * MiB)!;
  const b = arena.tryAcquire(MiB)!;
  const c = arena.tryAcquire(4096)!;
  assert.ok(a && b && c);
  assert.is(arena.stats().freeBytes, 0);
  assert.throws(() => arena.tryAcquire(3 * MiB), (e: Error & { code?: string }) => e.code === 'DFS_ERR_MEMORY_BUDGET');
  assert.throws(() => arena.acquire([2 * MiB, 2 * MiB]), (e: Error & { code?: string }) => e.code === 'DFS_ERR_MEMORY_BUDGET');
});

test('waiters are served in order, all of a request at once', async () => {
  const arena = new BufferArena(4 * MIN_BLOCK);
  const held = await arena.acquire([MIN_BLOCK, MIN_BLOCK, MIN_BLOCK]);
  const order: string[] = [];
  const big = arena.acquire([MIN_BLOCK, MIN_BLOCK]).then((l) => (order.push('two'), l));
  const small = arena.acquire([MIN_BLOCK]).then((l) => (order.push('one'), l));
  assert.is(arena.tryAcquire(MIN_BLOCK), null, 'nobody jumps the queue, though one block is free');
  assert.is(arena.stats().waiting, 2);
  held[0]!.release();
  await new Promise((r) => setImmediate(r));
  const two = await big;
  assert.equal(order, ['two'], 'the first waiter got both blocks, the second still waits');
  two.forEach((l) => l.release());
  const one = await small;
  assert.equal(order, ['two', 'one']);
  assert.is(arena.stats().waits, 2);
  one[0]!.release();
  held.slice(1).forEach((l) => l.release());
  assert.is(arena.stats().inUseBytes, 0);
});

/** An engine on a fresh six-disk ec:4+2 pool, for `fn`; `bufferBytes` sets memory.bufferBytes. */
async function withEngine(extentSize: string, bufferBytes: number | null, fn: (engine: Engine) => Promise<void>): Promise<void> {
  const root = tempDir('dfs-arena-');
  try {
    const disks = Array.from({ length: 6 }, (_, i) => join(root, `d${i}`));
    for (const d of disks) mkdirSync(d);
    const pool = join(root, 'pool');
    await Engine.init(pool, { disks, policy: 'ec:4+2', extentSize }).close();
    if (bufferBytes !== null) {
      const config = readPoolConfig(pool);
      writePoolConfig(pool, { ...config, memory: { bufferBytes } });
    }
    const engine = Engine.open(pool, { cacheBytes: 0 });
    try {
      await fn(engine);
    } finally {
      await engine.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function readAll(engine: Engine, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of readObject(engine, lookupObject(engine, key))) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

test('concurrent puts share a small arena: every object exact, requests waited, nothing left leased', async () => {
  // 4 MiB: two whole ec:4+2 extent buffers (2 MiB blocks) for twelve puts.
  await withEngine('1MiB', 4 * MiB, async (engine) => {
    const objects = Array.from({ length: 12 }, (_, i) => randomBytes(i % 3 === 0 ? 4096 + i : 3 * MiB + i * 1000, 100 + i));
    // Sources that hand out their bytes slowly, in pieces, with and without a size hint.
    const source = (bytes: Uint8Array, i: number) => chunkSource((async function* () {
      for (let at = 0; at < bytes.length; at += 300_000) {
        await new Promise((r) => setTimeout(r, 1));
        yield bytes.subarray(at, at + 300_000);
      }
    })(), i % 2 === 0 ? bytes.length : null);
    await Promise.all(objects.map((bytes, i) => putObject(engine, source(bytes, i), `o${i}`)));
    const stats = engine.buffers.stats();
    assert.ok(stats.waits > 0, 'twelve puts in an arena of two extents never waited');
    assert.is(stats.inUseBytes, 0, 'buffers still leased after every put ended');
    for (const [i, bytes] of objects.entries()) assert.ok((await readAll(engine, `o${i}`)).equals(Buffer.from(bytes)), `object ${i} differs`);
  });
});

test('a source longer than it said moves to whole-extent buffers and is stored whole', async () => {
  await withEngine('64K', null, async (engine) => {
    for (const [said, real] of [[100, 101], [4096, 200_000], [0, 5], [65535, 65536 * 2 + 1]] as const) {
      const bytes = randomBytes(real, said);
      await putObject(engine, chunkSource((async function* () { yield bytes; })(), said), `k${said}`);
      assert.ok((await readAll(engine, `k${said}`)).equals(Buffer.from(bytes)), `said ${said}, had ${real}`);
    }
    assert.is(engine.buffers.stats().inUseBytes, 0);
  });
});

test('memory.bufferBytes below 4 MiB is refused with a coded error', () => {
  const root = tempDir('dfs-arena-');
  try {
    const pool = join(root, 'pool');
    Engine.init(pool, {}).close();
    const config = readPoolConfig(pool);
    writePoolConfig(pool, { ...config, memory: { bufferBytes: 1000 } });
    assert.throws(() => readPoolConfig(pool), (e: Error & { code?: string }) => e.code === 'DFS_ERR_CONFIG_INVALID' && /memory.bufferBytes/.test(e.message));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
