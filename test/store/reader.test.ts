// The read path's buffers: each extent read hands a buffer to a worker and
// gets it back with the bytes, and readObject reuses it once the consumer has
// moved on — never the extent cache's own copy.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, chunkSource, lookupObject, putObject, readObject } from '../../src/store/index.js';
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

test.run();
