// A multipart upload completed without copying: the parts' extents become
// the object's (assemble.ts). On a real pool: no fragment file is written or
// removed, the extents keep their ids in the parts' order (extents shorter
// than the extent size in the middle of the object included), reads and
// ranges are exact, every header then names the object and the assembly
// records are gone; a part's fragment repaired before the completion keeps
// the part's header; recover-catalog finds completed objects whole and skips
// the parts of an upload never completed; parts not written for the key are
// refused, left as they were. A completion whose headers are not rewritten
// yet (its rewrite held back, the engine then closed at once as a crash
// would leave it) is readable, recover-catalog makes the object from its
// assembly records (passing over a stale record and a torn one), and the
// next engine to open the pool rewrites the headers and drops the records.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Engine, assembleObject, chunkSource, decodeHeader, forEachLimited, fragmentPath, lookupObject, putObject, readObject, recoverCatalog, repairExtent, uploadPartKey,
  type PutOptions,
} from '../../src/store/index.js';
import type { ObjectRow } from '../../src/catalog/index.js';
import { tempDir } from '../helpers/cli.js';
import { randomBytes } from '../helpers/gf-reference.js';

const KiB = 1024;
const root = tempDir('dfs-assemble-');
const disks = Array.from({ length: 7 }, (_, i) => join(root, `d${i}`));
for (const d of disks) mkdirSync(d);
await Engine.init(join(root, 'pool'), { disks, policy: 'ec:4+2', extentSize: '256K' }).close();
let engine = Engine.open(join(root, 'pool'), { cacheBytes: 0 });

test.after(async () => {
  await engine.close();
  rmSync(root, { recursive: true, force: true });
});

async function put(key: string, bytes: Uint8Array, options: PutOptions = {}) {
  async function* one() {
    yield bytes;
  }
  return putObject(engine, chunkSource(one(), bytes.length), key, options);
}

async function read(key: string, range?: { start: number; end: number }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of readObject(engine, lookupObject(engine, key), range)) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function fragmentFiles(): Set<string> {
  const out = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (!e.name.startsWith('.')) out.add(join(dir, e.name));
    }
  };
  for (const d of disks) walk(join(d, 'fragments'));
  return out;
}

/** An upload of `sizes` parts for `bucket/key`, written as the S3 listener writes them; its part objects. */
async function upload(id: string, bucket: string, key: string, sizes: number[], seed: number): Promise<{ parts: ObjectRow[]; bytes: Buffer }> {
  engine.catalog.createUpload({ id, bucket, key, meta: '{}', createdAt: Date.now() });
  const bytes = sizes.map((n, i) => randomBytes(n, seed + i));
  // The last part first, as clients may send them.
  for (let i = sizes.length - 1; i >= 0; i--) await put(uploadPartKey(id, i + 1), bytes[i]!, { internal: true, partOf: `${bucket}/${key}` });
  return { parts: sizes.map((_, i) => engine.catalog.object(uploadPartKey(id, i + 1))!), bytes: Buffer.concat(bytes) };
}

/** Where a fragment's file is and how long its header is, by the catalogue. */
function fragmentFile(extentId: string, index: number): { path: string; length: number } {
  const extent = engine.catalog.extent(extentId)!;
  const f = extent.fragments.find((x) => x.index === index)!;
  return { path: fragmentPath(engine.catalog.diskRef(f.diskId)!.path, extentId, index), length: extent.payloadOffset };
}

function headerIn({ path, length }: { path: string; length: number }) {
  const decoded = decodeHeader(readFileSync(path).subarray(0, length), engine.hash);
  if ('problem' in decoded) throw new Error(`header of ${path}: ${decoded.problem}`);
  return decoded.header;
}

function headerOf(extentId: string, index: number) {
  return headerIn(fragmentFile(extentId, index));
}

/** The assembly records on the disks, as "<disk index>/<file>". */
function records(): string[] {
  return disks.flatMap((d, i) => (existsSync(join(d, 'assembling')) ? readdirSync(join(d, 'assembling')).map((f) => `${i}/${f}`) : []));
}

let first: Buffer;

test('the parts\' extents become the object\'s: no file written or removed, extents in order, reads exact, headers rewritten', async () => {
  // 300 KiB + 7 (2 extents, the second short), 256 KiB (1), 1 byte (1).
  const { parts, bytes } = await upload('u1', 'photos', 'big.bin', [300 * KiB + 7, 256 * KiB, 1], 10);
  first = bytes;
  const extentIds = parts.flatMap((p) => engine.catalog.extentsOfObject(p.id).map((e) => e.id));
  assert.is(extentIds.length, 4);
  for (const id of extentIds) assert.ok(headerOf(id, 0).part, 'a part\'s header says so');
  const before = fragmentFiles();
  const result = await assembleObject(engine, 'photos/big.bin', parts, { meta: '{"etag":"x-3"}' });
  assert.ok(result, 'assembled');
  await engine.headerRewrites.settled();
  assert.equal(records(), [], 'the records go once the headers are rewritten');
  assert.equal(fragmentFiles(), before, 'no fragment file written or removed');
  const object = engine.catalog.object('photos/big.bin')!;
  assert.equal([object.size, object.extents, engine.catalog.objectMeta(object.id)], [bytes.length, 4, '{"etag":"x-3"}']);
  const extents = engine.catalog.extentsOfObject(object.id);
  assert.equal(extents.map((e) => [e.id, e.seq, e.size]), extentIds.map((id, seq) => [id, seq, [256 * KiB, 44 * KiB + 7, 256 * KiB, 1][seq]]));
  for (const p of parts) assert.is(engine.catalog.object(p.key), null, 'the parts are gone');
  assert.ok((await read('photos/big.bin')).equals(bytes));
  for (const [start, end] of [[0, 1], [256 * KiB - 5, 256 * KiB + 5], [300 * KiB, 300 * KiB + 20], [300 * KiB + 6, bytes.length], [bytes.length - 1, bytes.length]]) {
    assert.ok((await read('photos/big.bin', { start: start!, end: end! })).equals(bytes.subarray(start, end)), `range ${start}-${end}`);
  }
  extents.forEach((e, seq) => {
    for (const f of e.fragments) {
      const h = headerOf(e.id, f.index);
      assert.equal([h.objectId, h.seq, h.last, h.part, h.key, h.objectSize, h.createdAt], [object.id, seq, seq === 3, false, 'photos/big.bin', seq === 3 ? bytes.length : null, object.createdAt]);
    }
  });
});

test('a completion replaces the object of its key (its files removed); parts not written for the key are refused and left as they were', async () => {
  const old = await put('photos/replaced', randomBytes(500 * KiB, 30));
  const oldFiles = engine.catalog.extentsOfObject(old.objectId).length;
  assert.ok(oldFiles > 0);
  const { parts, bytes } = await upload('u2', 'photos', 'replaced', [256 * KiB, 10], 31);
  const before = fragmentFiles().size;
  assert.ok(await assembleObject(engine, 'photos/replaced', parts));
  assert.is(fragmentFiles().size, before - oldFiles * 6, 'the replaced object\'s files are removed');
  assert.ok((await read('photos/replaced')).equals(bytes));
  // Written as objects of their own (no partOf), or for another key: not assembled, nothing changed.
  engine.catalog.createUpload({ id: 'u3', bucket: 'photos', key: 'other', meta: '{}', createdAt: Date.now() });
  await put(uploadPartKey('u3', 1), randomBytes(300 * KiB, 32), { internal: true });
  const plain = engine.catalog.object(uploadPartKey('u3', 1))!;
  assert.is(await assembleObject(engine, 'photos/other', [plain]), null);
  const { parts: elsewhere } = await upload('u4', 'photos', 'mine', [300 * KiB], 33);
  assert.is(await assembleObject(engine, 'photos/theirs', elsewhere), null);
  assert.ok(engine.catalog.object(uploadPartKey('u3', 1)) && engine.catalog.object(uploadPartKey('u4', 1)), 'the parts are still there');
  assert.is(engine.catalog.object('photos/other'), null);
  assert.is(engine.catalog.object('photos/theirs'), null);
});

test('a part\'s fragment repaired before the completion keeps the part\'s header; recover-catalog finds the objects and skips an upload never completed', async () => {
  const { parts, bytes } = await upload('u5', 'photos', 'repaired', [300 * KiB, 100], 40);
  const extent = engine.catalog.extentsOfObject(parts[0]!.id)[0]!;
  // Rebuilt from the others (as a drain moves a fragment): written anew with the header a repair gives it.
  const repaired = await repairExtent(engine, extent.id, { force: new Set([1]) });
  assert.ok(repaired.rebuilt === 1, JSON.stringify(repaired));
  const h = headerOf(extent.id, 1);
  assert.equal([h.key, h.part, h.objectId], ['photos/repaired', true, parts[0]!.id]);
  assert.ok(await assembleObject(engine, 'photos/repaired', parts));
  await engine.headerRewrites.settled();
  assert.ok((await read('photos/repaired')).equals(bytes));
  // An upload never completed: its parts are not objects.
  await upload('u6', 'photos', 'unfinished', [300 * KiB], 41);
  await engine.close();
  for (const f of readdirSync(join(root, 'pool'))) if (f.startsWith('catalog.db')) rmSync(join(root, 'pool', f));
  const summary = await recoverCatalog(join(root, 'pool'));
  assert.ok(summary.uploadPartExtents >= 2, JSON.stringify(summary));
  engine = Engine.open(join(root, 'pool'), { cacheBytes: 0 });
  assert.ok((await read('photos/big.bin')).equals(first));
  assert.ok((await read('photos/repaired')).equals(bytes));
  assert.is(engine.catalog.object('photos/unfinished'), null);
  assert.is(engine.catalog.object('photos/mine'), null);
  assert.is(engine.catalog.object(uploadPartKey('u6', 1)), null);
  // The part written as an object of its own (u3) comes back as one, as parts did before.
  assert.ok(engine.catalog.object(uploadPartKey('u3', 1)));
});

test('before its headers are rewritten, the object reads whole and recover-catalog makes it from its records; the next engine to open the pool rewrites them', async () => {
  const { parts, bytes } = await upload('u8', 'photos', 'pending', [300 * KiB, 256 * KiB + 3], 50);
  const extentIds = parts.flatMap((p) => engine.catalog.extentsOfObject(p.id).map((e) => e.id));
  assert.is(extentIds.length, 4);
  // The rewrite waits for the extents' locks, held here until the engine is closed.
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const held = extentIds.map((id) => engine.extentLocks.run(id, () => gate));
  const result = (await assembleObject(engine, 'photos/pending', parts))!;
  assert.ok(result, 'assembled');
  assert.ok((await read('photos/pending')).equals(bytes), 'read whole while its headers still say "a part"');
  const files = extentIds.flatMap((id) => [0, 1, 2, 3, 4, 5].map((index) => fragmentFile(id, index)));
  for (const f of files) assert.ok(headerIn(f).part, 'not rewritten yet');
  assert.equal(records().sort(), disks.map((_, i) => `${i}/${result.objectId}.json`), 'a record on every disk');
  // Closed at once, as a crash leaves the pool: the held-back rewrite then finds no catalogue and writes nothing.
  const old = engine;
  old.closeNow();
  release();
  await Promise.all(held);
  await old.headerRewrites.settled();
  for (const f of files) assert.ok(headerIn(f).part, 'still not rewritten');

  // Beside it, a record naming extents that are gone (its object deleted since) and one torn as it was written.
  writeFileSync(join(disks[0]!, 'assembling', `${'ab'.repeat(16)}.json`), JSON.stringify({ objectId: 'ab'.repeat(16), key: 'photos/gone', size: 5, createdAt: 1, extents: ['cd'.repeat(16)] }));
  writeFileSync(join(disks[1]!, 'assembling', `${'ef'.repeat(16)}.json`), '{"objectId":"efef');
  for (const f of readdirSync(join(root, 'pool'))) if (f.startsWith('catalog.db')) rmSync(join(root, 'pool', f));
  const summary = await recoverCatalog(join(root, 'pool'));
  assert.is(summary.assembliesApplied, 1, JSON.stringify(summary));
  assert.is(summary.objectsIncomplete.length, 0, JSON.stringify(summary.objectsIncomplete));
  engine = Engine.open(join(root, 'pool'), { cacheBytes: 0 });
  const object = engine.catalog.object('photos/pending')!;
  assert.equal([object.id, object.size, object.extents], [result.objectId, bytes.length, 4]);
  assert.equal(engine.catalog.extentsOfObject(object.id).map((e) => e.id), extentIds);
  assert.ok((await read('photos/pending')).equals(bytes));
  // Opening the pool took the records up, and dropped the two others.
  await engine.headerRewrites.settled();
  assert.equal(records(), []);
  extentIds.forEach((id, seq) => {
    for (let index = 0; index < 6; index++) {
      const h = headerOf(id, index);
      assert.equal([h.objectId, h.seq, h.last, h.part, h.objectSize, h.createdAt], [object.id, seq, seq === 3, false, seq === 3 ? bytes.length : null, object.createdAt]);
    }
  });
});

test('forEachLimited (which the rewrites run under): after a failure nothing starts, and it throws once the calls under way have ended', async () => {
  const started: number[] = [];
  let running = 0;
  let endedAfterThrow = false;
  let thrown: unknown = null;
  await forEachLimited(Array.from({ length: 20 }, (_, i) => i), 3, async (i) => {
    started.push(i);
    running++;
    await new Promise((r) => setTimeout(r, i === 1 ? 5 : 20));
    running--;
    if (i === 1) throw new Error('item 1');
  }).catch((error: unknown) => {
    thrown = error;
    endedAfterThrow = running === 0;
  });
  assert.is((thrown as Error | null)?.message, 'item 1');
  assert.ok(endedAfterThrow, 'no call was still running when it threw');
  assert.equal(started, [0, 1, 2], 'nothing started after the failure');
});

test.run();
