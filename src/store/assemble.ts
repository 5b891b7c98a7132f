// A multipart upload's completion without copying its bytes: the parts'
// extents become the object's. Each part was written under the key of the
// upload's object, its fragments' headers flagged as a part's (writer.ts,
// partOf; recovery skips such fragments). The completion writes an assembly
// record to every disk (assembly-records.ts: the object's id, key, size,
// time and extents in order), then one catalogue transaction moves the
// extents to the object and drops the emptied parts, and the completion is
// answered. Each fragment's header is then rewritten in place, in the
// background (HeaderRewrites), with the object's identity (its id, the
// extent's place in it, the last flag, the object's size and time); the key
// is the same, so the header keeps its length and the payload stays where it
// is. Reads and scrubs check a header's pool, extent, index and lengths,
// which the rewrite does not change, so the object is whole before its
// headers say so; recover-catalog reads the records for the rest. The record
// goes once every header is rewritten.
//
// A crash before the transaction leaves the catalogue as it was: the upload
// can be completed again, or aborted (the record is dropped by the next
// engine to open the pool, which finds no such object). A crash after it
// leaves headers to rewrite: the next engine to open the pool does it. The
// fragments of one extent are rewritten one after another, so a torn header
// write damages at most one of them, which the scrubber rebuilds from the
// others.
import { open, rm, type FileHandle } from 'node:fs/promises';
import type { ExtentWithFragments, ObjectRow } from '../catalog/index.js';
import { DfsError } from '../errors.js';
import { crashPoint } from '../faults/index.js';
import { log } from '../log/index.js';
import { encodeHeader, fragmentHeaderOf, fragmentPath, headerLengthFor, hex64, parseHex64, type FragmentHeader } from '../format/index.js';
import type { Engine } from './engine.js';
import { checkKey, newId, objectChecksum } from './object-meta.js';
import { forEachLimited } from './limited.js';
import { deleteExtentFiles, type PutResult } from './writer.js';
import { assemblyRecordsSync, removeAssemblyRecord, writeAssemblyRecord, type AssemblyRecord } from './assembly-records.js';

/** How many extents have their headers rewritten at once. */
const EXTENTS_AT_ONCE = 8;

/** A fragment file's header, when it is whole and describes this fragment of `extent`; null otherwise. */
async function readHeader(handle: FileHandle, engine: Engine, extent: ExtentWithFragments, index: number): Promise<FragmentHeader | null> {
  const bytes = Buffer.alloc(extent.payloadOffset);
  const { bytesRead } = await handle.read(bytes, 0, bytes.length, 0);
  return fragmentHeaderOf(bytes.subarray(0, bytesRead), engine.hash, { extentId: extent.id, index, length: extent.payloadOffset });
}

/** The fragment files of `extent` that can be opened now: on disks in use, recorded as sound. */
function liveFragments(engine: Engine, extent: ExtentWithFragments): { index: number; diskId: string; path: string }[] {
  const out: { index: number; diskId: string; path: string }[] = [];
  for (const f of extent.fragments) {
    const disk = engine.catalog.diskRef(f.diskId);
    if (!disk || disk.state === 'failed' || f.state !== 'ok') continue;
    out.push({ index: f.index, diskId: f.diskId, path: fragmentPath(disk.path, extent.id, f.index) });
  }
  return out;
}

async function openOrNull(path: string, flags: string): Promise<FileHandle | null> {
  try {
    return await open(path, flags);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Whether the part's fragments were written for this key (a readable header of its first extent says so). */
async function writtenFor(engine: Engine, extent: ExtentWithFragments, key: string): Promise<boolean> {
  for (const f of liveFragments(engine, extent)) {
    const handle = await openOrNull(f.path, 'r');
    if (!handle) continue;
    try {
      const header = await readHeader(handle, engine, extent, f.index);
      // A part's flag, or cleared by a completion of this upload that was interrupted.
      if (header) return header.key === key && !header.pack;
    } finally {
      await handle.close();
    }
  }
  return false;
}

type Identity = Pick<FragmentHeader, 'objectId' | 'objectSize' | 'createdAt' | 'seq' | 'last'>;

/**
 * Rewrites the headers of `extent`'s fragments with the object's identity,
 * one fragment after another. A fragment that is missing or whose header is
 * damaged is left: the scrubber finds it and rebuilds it as the catalogue
 * then says (the object's).
 */
async function rewriteHeaders(engine: Engine, extent: ExtentWithFragments, key: string, identity: Identity): Promise<void> {
  for (const f of liveFragments(engine, extent)) {
    const handle = await openOrNull(f.path, 'r+');
    if (!handle) continue;
    try {
      const header = await readHeader(handle, engine, extent, f.index);
      // Damaged, another key's, or rewritten already (a rewrite resumed).
      if (!header || header.key !== key || (!header.part && header.objectId === identity.objectId)) continue;
      const bytes = encodeHeader({ ...header, ...identity, part: false }, engine.hash);
      if (bytes.length !== extent.payloadOffset) throw new DfsError('DFS_ERR_INTERNAL_UNEXPECTED', `header of ${bytes.length} bytes for a payload at ${extent.payloadOffset}`);
      crashPoint('assemble:header');
      await handle.write(bytes, 0, bytes.length, 0);
      await handle.datasync();
      engine.io.write(f.diskId, bytes.length);
    } finally {
      await handle.close();
    }
  }
}

/**
 * Stores `parts` (objects written with `partOf: key`), in order, as the
 * object `key`, without copying their bytes; null when they cannot be (a part
 * written otherwise, packed, or under another policy), for the caller to copy
 * them instead. The parts are gone afterwards (their extents are the
 * object's); an error leaves them as they were.
 */
export async function assembleObject(engine: Engine, keyInput: string, parts: readonly ObjectRow[], options: { meta?: string } = {}): Promise<PutResult | null> {
  const key = checkKey(keyInput);
  const payloadOffset = headerLengthFor(Buffer.byteLength(key, 'utf8'));
  const extents: { extent: ExtentWithFragments; from: string }[] = [];
  for (const part of parts) {
    if (engine.catalog.packedOf(part.id)) return null;
    const own = engine.catalog.extentsOfObject(part.id);
    if (own.some((e) => e.payloadOffset !== payloadOffset)) return null;
    if (own.length > 0 && !(await writtenFor(engine, own[0]!, key))) return null;
    for (const extent of own) extents.push({ extent, from: part.id });
  }
  const policy = extents[0]?.extent.policy ?? parts[0]?.policy;
  if (policy === undefined || extents.some((e) => e.extent.policy !== policy)) return null;

  const objectId = newId();
  const createdAt = Date.now();
  const size = extents.reduce((n, e) => n + e.extent.size, 0);
  const record: AssemblyRecord = { objectId, key, size, createdAt, extents: extents.map((e) => e.extent.id) };
  await writeAssemblyRecord(engine.catalog.disks().filter((d) => d.state !== 'failed'), record);

  const checksum = objectChecksum(extents.map((e) => parseHex64(e.extent.checksum)), engine.hash);
  const object: ObjectRow = { id: objectId, key, size, policy, checksum: hex64(checksum), extents: extents.length, createdAt };
  const replaced = engine.catalog.object(key) !== null;
  let removed: ExtentWithFragments[];
  try {
    removed = engine.catalog.assembleObject(object, parts.map((p) => p.id), extents.map((e) => ({ extentId: e.extent.id, from: e.from })), options.meta !== undefined ? { meta: options.meta } : {});
  } catch (error) {
    await removeAssemblyRecord(engine.catalog.disks(), objectId);
    throw error;
  }
  crashPoint('assemble:committed');
  // The replaced object's files first: removed while the rewrite's fdatasyncs ran, they took half as long again.
  await deleteExtentFiles(engine, removed);
  engine.headerRewrites.start(record);
  log('store').info({ key, size, extents: extents.length, policy, replaced, parts: parts.length }, 'object assembled from its parts');
  return { key, size, policy, extents: extents.length, checksum: hex64(checksum), objectId, replaced };
}

/**
 * The headers of completed objects, rewritten in the background after the
 * completion is answered. The engine's close waits for the rewrites under
 * way; those a crash interrupted are found by the next engine to open the
 * pool (resume).
 */
export class HeaderRewrites {
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly engine: Engine) {}

  /** Rewrites the headers of `record`'s object, then drops the record; a failure is logged and the record kept. */
  start(record: AssemblyRecord): void {
    this.track(this.rewrite(record).catch((error: unknown) => {
      log('store').warn({ key: record.key, objectId: record.objectId, err: (error as Error).message }, 'fragment headers of an assembled object not rewritten; the next start of the pool retries');
    }));
  }

  private track(job: Promise<void>): void {
    this.running.add(job);
    void job.finally(() => this.running.delete(job));
  }

  private async rewrite(record: AssemblyRecord): Promise<void> {
    const { engine } = this;
    const last = record.extents.length - 1;
    // A failure settles every rewrite under way before it is thrown.
    await forEachLimited(record.extents, EXTENTS_AT_ONCE, (extentId, seq) => engine.extentLocks.run(extentId, async () => {
      const extent = engine.catalog.extent(extentId);
      // Gone with its object (deleted or replaced since): nothing to say of it.
      if (!extent || extent.objectId !== record.objectId) return;
      await rewriteHeaders(engine, extent, record.key, {
        objectId: record.objectId, createdAt: record.createdAt, seq, last: seq === last, objectSize: seq === last ? record.size : null,
      });
    }));
    crashPoint('assemble:rewritten');
    await removeAssemblyRecord(engine.catalog.disks(), record.objectId);
  }

  /**
   * Takes up the records left on the disks (an engine opening the pool): an
   * object in the catalogue has its headers rewritten; a record of no object
   * (a completion that never committed, an object since deleted) is dropped,
   * as is a file there that is not a record.
   */
  resume(): void {
    const disks = this.engine.catalog.disks().filter((d) => d.state !== 'failed');
    const { records, damaged } = assemblyRecordsSync(disks.map((d) => d.path));
    const dropped = records.filter((r) => !this.engine.catalog.objectById(r.objectId));
    const kept = records.filter((r) => !dropped.includes(r));
    if (kept.length > 0) log('store').info({ objects: kept.length }, 'rewriting the fragment headers of assembled objects a stop interrupted');
    for (const record of kept) this.start(record);
    if (dropped.length === 0 && damaged.length === 0) return;
    this.track(Promise.all([
      ...dropped.map((r) => removeAssemblyRecord(disks, r.objectId)),
      ...damaged.map((path) => rm(path, { force: true, recursive: true }).catch(() => {})),
    ]).then(() => {}));
  }

  /** Resolves once every rewrite under way has ended. */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }
}
