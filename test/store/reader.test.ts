// The read path's memory: each extent is read into a worker's read slot and
// viewed there until the consumer moves on; the extent cache keeps copies of
// its own, and a read that stops early frees every slot it held.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, chunkSource, lookupObject, putObject, readExtent, readObject } from '../../src/store/index.js';
import { readAheadFor } from '../../src/store/reader.js';
import { heldSlots } from '../../src/kernels/read-slots.js';
import { fragmentPath } from '../../src/format/index.js';
import { tempDir } from '../helpers/cli.js';
import { randomBytes } from '../helpers/gf-reference.js';

const root = tempDir('dfs-reader-');
const disks = Array.from({ length: 6 }, (_, i) => join(root, `d${i}`));
for (const d of disks) mkdirSync(d);
await Engine.init(join(root, 'pool'), { disks, policy: 'ec:4+2', extentSize: '64K' }).close();
const engine = Engine.open(join(root, 'pool'), { cacheBytes: 16 * 1024 * 1024 });

async function put(key: string, bytes: Uint8Array): Promise<void> {
  async function* one() {
    yield bytes;
  }
  await putObject(engine, chunkSource(one(), bytes.length), key);
}

/** The object's bytes, each chunk copied as it comes (a chunk is valid only until the next is asked for). */
async function readAll(key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of readObject(engine, lookupObject(engine, key))) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

test.after(async () => {
  await engine.close();
  rmSync(root, { recursive: true, force: true });
});

test('reads through reused buffers stay exact, and the cached extents are never written over', async () => {
  const a = randomBytes(40 * 65536 + 123, 1); // 41 extents: more than the read-ahead, so buffers come round again
  const b = randomBytes(40 * 65536 + 77, 2);
  await put('a', a);
  await put('b', b);
  assert.ok((await readAll('a')).equals(Buffer.from(a)), 'first read of a');
  assert.ok((await readAll('b')).equals(Buffer.from(b)), 'b');
  // Only a's first three extents stay cached: the reads after them come from the disks, into reused buffers.
  const extents = engine.catalog.extentsOfObject(lookupObject(engine, 'a').id);
  for (const e of extents.slice(3)) engine.cache.delete(e.id);
  const hits = engine.cache.stats().hits;
  assert.ok((await readAll('a')).equals(Buffer.from(a)), 'a, partly from the cache');
  assert.is(engine.cache.stats().hits, hits + 3, 'the first three extents came from the cache');
  assert.ok((await readAll('a')).equals(Buffer.from(a)), 'a again: the reads after the cached extents must not have taken their memory');
});

test('readExtent hands back bytes of the caller\'s own, never a read slot', async () => {
  const d = randomBytes(2 * 65536, 4);
  await put('d', d);
  const [first] = engine.catalog.extentsOfObject(lookupObject(engine, 'd').id);
  engine.cache.delete(first!.id);
  const bytes = await readExtent(engine, first!, 'd');
  assert.ok(bytes.buffer instanceof ArrayBuffer, 'an ArrayBuffer, not a worker\'s shared memory');
  assert.ok(Buffer.from(bytes).equals(Buffer.from(d.subarray(0, 65536))));
  assert.is(heldSlots(), 0, 'no slot left held (nothing could ever free it)');
});

test('many reads at once share the read-ahead, so memory in flight stays bounded', () => {
  assert.is(readAheadFor(1), 32, 'a lone read gets the whole read-ahead');
  assert.is(readAheadFor(2), 16);
  assert.is(readAheadFor(4), 8);
  assert.is(readAheadFor(1000), 2, 'never below two each');
});

/** Waits for reads still in flight to come back and be freed. */
async function slotsFreed(): Promise<number> {
  for (let i = 0; i < 200 && heldSlots() > 0; i++) await new Promise((r) => setTimeout(r, 10));
  return heldSlots();
}

test('a read stopped early, or failing midway, frees every slot it held or was still waiting for', async () => {
  const c = randomBytes(40 * 65536, 3);
  await put('c', c);
  const uncache = () => engine.catalog.extentsOfObject(lookupObject(engine, 'c').id).forEach((e) => engine.cache.delete(e.id));
  uncache();
  let seen = 0;
  for await (const chunk of readObject(engine, lookupObject(engine, 'c'))) {
    assert.ok(Buffer.from(chunk).equals(Buffer.from(c.subarray(seen * 65536, (seen + 1) * 65536))));
    if (++seen === 5) break;
  }
  assert.is(await slotsFreed(), 0, 'after a break');
  // An extent with every fragment gone, in the middle: the read fails there, with the chunks before it exact.
  uncache();
  const extents = engine.catalog.extentsOfObject(lookupObject(engine, 'c').id);
  const lost = extents[10]!;
  for (const f of lost.fragments) rmSync(fragmentPath(engine.catalog.diskRef(f.diskId)!.path, lost.id, f.index));
  seen = 0;
  let failure: unknown = null;
  try {
    for await (const chunk of readObject(engine, lookupObject(engine, 'c'))) {
      assert.ok(Buffer.from(chunk).equals(Buffer.from(c.subarray(seen * 65536, (seen + 1) * 65536))), `chunk ${seen}`);
      seen++;
    }
  } catch (error) {
    failure = error;
  }
  assert.is((failure as { code?: string } | null)?.code, 'DFS_ERR_EXTENT_UNRECOVERABLE');
  assert.is(seen, 10, 'every extent before the lost one, none from it on');
  assert.is(await slotsFreed(), 0, 'after a failure');
});

test.run();
