// A multipart upload's completion without copying its bytes: the parts'
// extents become the object's. Each part was written under the key of the
// upload's object, its fragments' headers flagged as a part's (writer.ts,
// partOf; recovery skips such fragments). The completion rewrites each
// fragment's header in place with the object's identity (its id, the
// extent's place in it, the last flag, the object's size and time); the key
// is the same, so the header keeps its length and the payload stays where it
// is. Then one catalogue transaction moves the extents to the object and
// drops the emptied parts.
//
// A crash before that transaction leaves the catalogue as it was: the upload
// can be completed again, or aborted (some headers then name an object that
// never was; recovery finds it incomplete). The fragments of one extent are
// rewritten one after another, so a torn header write damages at most one of
// them, which the scrubber rebuilds from the others.
import { open, type FileHandle } from 'node:fs/promises';
import type { ExtentWithFragments, ObjectRow } from '../catalog/index.js';
import { DfsError } from '../errors.js';
import { crashPoint } from '../faults/index.js';
import { log } from '../log/index.js';
import { encodeHeader, fragmentHeaderOf, fragmentPath, headerLengthFor, hex64, parseHex64, type FragmentHeader } from '../format/index.js';
import type { Engine } from './engine.js';
import { checkKey, newId, objectChecksum } from './object-meta.js';
import { forEachLimited } from './maintenance.js';
import { deleteExtentFiles, type PutResult } from './writer.js';

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
      if (!header || header.key !== key) continue;
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
  const lastSeq = extents.length - 1;
  // A failure settles every rewrite under way before it is thrown: none goes on behind a copy.
  await forEachLimited(extents, EXTENTS_AT_ONCE, ({ extent }, seq) => engine.extentLocks.run(extent.id, () => rewriteHeaders(engine, extent, key, {
    objectId, createdAt, seq, last: seq === lastSeq, objectSize: seq === lastSeq ? size : null,
  })));

  const checksum = objectChecksum(extents.map((e) => parseHex64(e.extent.checksum)), engine.hash);
  const object: ObjectRow = { id: objectId, key, size, policy, checksum: hex64(checksum), extents: extents.length, createdAt };
  const replaced = engine.catalog.object(key) !== null;
  const removed = engine.catalog.assembleObject(object, parts.map((p) => p.id), extents.map((e) => ({ extentId: e.extent.id, from: e.from })), options.meta !== undefined ? { meta: options.meta } : {});
  crashPoint('assemble:committed');
  await deleteExtentFiles(engine, removed);
  log('store').info({ key, size, extents: extents.length, policy, replaced, parts: parts.length }, 'object assembled from its parts');
  return { key, size, policy, extents: extents.length, checksum: hex64(checksum), objectId, replaced };
}
