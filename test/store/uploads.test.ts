// Multipart uploads' storage, on a real pool: parts are hidden objects (no
// listing shows them), readable by key; gc reclaims an upload older than
// s3.uploadMaxAgeSeconds with its parts (and parts whose upload is gone),
// and leaves a young one alone; a ranged read returns exactly the range; a
// part and its row commit in one transaction, or neither does.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, chunkSource, collectGarbage, deleteObject, lookupObject, putObject, readObject, uploadPartKey, type PutOptions } from '../../src/store/index.js';
import { fragmentFiles, tempDir } from '../helpers/cli.js';
import { randomBytes } from '../helpers/gf-reference.js';

const root = tempDir('dfs-uploads-');
const disks = Array.from({ length: 6 }, (_, i) => join(root, `d${i}`));
for (const d of disks) mkdirSync(d);
await Engine.init(join(root, 'pool'), { disks, policy: 'ec:4+2', extentSize: '64K' }).close();
const engine = Engine.open(join(root, 'pool'), { cacheBytes: 0 });

async function put(key: string, bytes: Uint8Array, internal = false, options: PutOptions = {}) {
  async function* one() {
    yield bytes;
  }
  return putObject(engine, chunkSource(one(), bytes.length), key, { internal, ...options });
}

async function read(key: string, range?: { start: number; end: number }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of readObject(engine, lookupObject(engine, key), range)) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

test.after(async () => {
  await engine.close();
  rmSync(root, { recursive: true, force: true });
});

test('internal keys: refused from clients, hidden from listings, readable by the pool', async () => {
  const refused = await put(uploadPartKey('a'.repeat(32), 1), randomBytes(10, 1)).then(() => null, (e: { code?: string }) => e.code);
  assert.is(refused, 'DFS_ERR_OBJECT_KEY_INVALID');
  await put(uploadPartKey('a'.repeat(32), 1), randomBytes(10, 1), true);
  await put('visible', randomBytes(10, 2));
  assert.equal(engine.catalog.listObjects().map((o) => o.key), ['visible']);
  assert.is((await read(uploadPartKey('a'.repeat(32), 1))).length, 10);
});

test('gc reclaims an old upload and its parts, and parts whose upload is gone; a young upload stays', async () => {
  const old = 'b'.repeat(32);
  const young = 'c'.repeat(32);
  const now = Date.now();
  engine.catalog.createUpload({ id: old, bucket: 'bk', key: 'k', meta: '{}', createdAt: now - 3 * 3600_000 });
  engine.catalog.createUpload({ id: young, bucket: 'bk', key: 'k', meta: '{}', createdAt: now });
  for (const [id, part, size] of [[old, 1, 70_000], [old, 2, 100], [young, 1, 5]] as const) {
    await put(uploadPartKey(id, part), randomBytes(size, part), true);
    engine.catalog.putPart(id, { part, size, etag: 'x', checksums: null, uploadedAt: now });
  }
  engine.updateConfig({ ...engine.config, s3: { ...engine.config.s3, uploadMaxAgeSeconds: 3600 } });
  const dry = await collectGarbage(engine, { dryRun: true, graceSeconds: 0 });
  assert.equal([dry.uploads.uploads, dry.uploads.parts], [1, 2]);
  assert.ok(engine.catalog.upload(old), 'a dry run keeps it');
  // The first test's part has no upload row: taken once it is old enough (now, with an age of 0).
  const summary = await collectGarbage(engine, { graceSeconds: 0 });
  assert.equal([summary.uploads.uploads, summary.uploads.parts, summary.uploads.bytes], [1, 2, 70_100]);
  assert.is(engine.catalog.upload(old), null);
  assert.equal(engine.catalog.parts(old), []);
  assert.is(engine.catalog.object(uploadPartKey(old, 1)), null);
  assert.ok(engine.catalog.upload(young));
  assert.ok(engine.catalog.object(uploadPartKey(young, 1)));
  engine.updateConfig({ ...engine.config, s3: { ...engine.config.s3, uploadMaxAgeSeconds: 0 } });
  const all = await collectGarbage(engine, { graceSeconds: 0 });
  assert.equal([all.uploads.uploads, all.uploads.parts], [1, 2]);
  assert.is(engine.catalog.object(uploadPartKey('a'.repeat(32), 1)), null, 'the orphan part is gone');
});

test('a part and its row commit together: a row refused stores nothing and keeps the part it would replace', async () => {
  const id = 'e'.repeat(32);
  const key = uploadPartKey(id, 1);
  engine.catalog.createUpload({ id, bucket: 'bk', key: 'k', meta: '{}', createdAt: Date.now() });
  const row = (etag: string, size: number) => engine.catalog.putPart(id, { part: 1, size, etag, checksums: null, uploadedAt: Date.now() });
  const first = randomBytes(150_000, 11);
  // Inside the transaction, after the object's rows: the part is there to see.
  let seen: string | null = null;
  await put(key, first, true, { partOf: 'bk/k', duringCommit: () => {
    seen = engine.catalog.object(key)?.id ?? null;
    row('first', first.length);
  } });
  const stored = engine.catalog.object(key)!;
  assert.is(seen, stored.id);
  assert.equal(engine.catalog.parts(id).map((p) => [p.etag, p.size]), [['first', first.length]]);
  const files = fragmentFiles(disks);
  // The same part again, its row refused (as when the upload went meanwhile): the error comes out,
  // the row written before the throw is undone, and the part it would replace is untouched.
  const refused = await put(key, randomBytes(200_000, 12), true, { partOf: 'bk/k', duringCommit: () => {
    row('second', 200_000);
    throw new Error('the upload is gone');
  } }).then(() => null, (e: Error) => e.message);
  assert.is(refused, 'the upload is gone');
  assert.is(engine.catalog.object(key)!.id, stored.id);
  assert.ok((await read(key)).equals(first));
  assert.equal(engine.catalog.parts(id).map((p) => p.etag), ['first']);
  assert.equal(fragmentFiles(disks), files, 'the refused part left no file, and the first kept its own');
  engine.catalog.dropUpload(id);
  await deleteObject(engine, key, true);
});

test('ranged reads return exactly the range, within an extent, across extents and at the ends', async () => {
  const data = randomBytes(5 * 65536 + 123, 9);
  await put('ranged', data);
  const small = randomBytes(3000, 4);
  await put('small', small);
  for (const [start, end] of [[0, 1], [0, data.length], [65535, 65537], [100, 3 * 65536 + 5], [data.length - 7, data.length], [4 * 65536, 5 * 65536]]) {
    assert.ok((await read('ranged', { start: start!, end: end! })).equals(data.subarray(start, end)), `${start}-${end}`);
  }
  assert.ok((await read('small', { start: 10, end: 20 })).equals(small.subarray(10, 20)));
});

test.run();
