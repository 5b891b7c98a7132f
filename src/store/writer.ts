// The write path. A put streams its input one extent at a time through a
// few buffers leased from the engine's arena (memory stays bounded whatever
// the object size and however many puts run at once), encodes each extent
// in the worker pool (EC) or checksums it here (replication), writes every
// fragment durably to its own disk, fsyncs the touched directories, and only
// then makes the object visible in one catalogue transaction. An overwrite
// swaps the extents in that same transaction and deletes the old fragment
// files afterwards.
//
//   input ─fill─▶ leased buffers ─encode (workers)─▶ fragments ─tmp+fdatasync+rename─▶ disks
//                                                          └─ dir fsync ─▶ commit ─▶ delete old
import { DfsError } from '../errors.js';
import { log } from '../log/index.js';
import type { NewExtent, ObjectRow, ExtentWithFragments } from '../catalog/index.js';
import { chooseDisks, formatPolicy, fragmentPayloadLength, policyNeed, policyWidth, type Policy } from '../pool/index.js';
import type { Engine } from './engine.js';
import { encodeHeader, fragmentPath, headerLengthFor, hex64, type FragmentHeader } from '../format/index.js';
import { DirectorySync, FragmentWriteError, removeFile, writeFragmentFile } from './fragment-io.js';
import { checkKey, newId, objectChecksum } from './object-meta.js';
import type { ExtentSource } from './sources.js';
import type { BufferArena, Lease } from '../buffers/index.js';
import { packable } from './packs.js';
import { forEachLimited } from './limited.js';

const EXTENTS_IN_FLIGHT = 4;
/** Extents whose files are removed at once (their fragments' files in parallel). */
const DELETE_EXTENTS_AT_ONCE = 8;

export interface PutOptions {
  policy?: Policy;
  /** Only replace the object if it is still this one (null: only if absent). */
  expectReplace?: string | null;
  onProgress?: (bytesDone: number, bytesTotal: number | null) => void;
  /** The object's creation time (ms since the epoch) when it is re-written, not created (change-policy). */
  createdAt?: number;
  /** Attributes kept beside the object (S3's ETag, content type, user metadata), as a JSON text. */
  meta?: string;
  /**
   * Called once every byte is in and before the object becomes visible, with
   * its size: it may check digests of the input (throwing refuses the put and
   * stores nothing) and return the attributes to keep (replacing `meta`).
   */
  beforeCommit?: (size: number) => string | undefined | Promise<string | undefined>;
  /**
   * Runs inside the catalogue transaction that makes the object visible,
   * after its rows: what must become visible with it, or not at all (a
   * multipart upload's part row). Throwing refuses the put and stores
   * nothing. A put with it is never packed.
   */
  duringCommit?: () => void;
  /** A key of the pool's own (INTERNAL_KEY_PREFIX): the parts of multipart uploads. */
  internal?: boolean;
  /**
   * A part of a multipart upload whose object will have this key: the
   * fragments' headers name that key and are flagged as a part's (FLAG_PART:
   * recovery skips them), so that the completion can make the part's extents
   * the object's by rewriting their headers in place (assemble.ts). Such a
   * part is never packed.
   */
  partOf?: string;
  /**
   * Sees each extent's bytes in order, in the extent's buffer, once it is
   * filled (S3's digests, computed on a thread from that shared memory); the
   * buffer is not reused before the returned promise settles.
   */
  onExtent?: (bytes: Uint8Array) => Promise<void> | void;
}

export interface PutResult {
  key: string;
  size: number;
  policy: string;
  extents: number;
  checksum: string;
  objectId: string;
  replaced: boolean;
}

export interface PlacedFragment {
  index: number;
  diskId: string;
  checksum: string;
  bytes: number;
}

export type ExtentIdentity = Omit<FragmentHeader, 'index' | 'payloadLength' | 'payloadChecksum'>;

/**
 * Writes fragments of one extent, each to a distinct healthy disk: the
 * `preferred` disk of an index when it is still healthy (or suspect), otherwise one chosen
 * by free space. A disk whose write fails is marked (suspect/failed) and the
 * fragment goes to another disk; when none is left the write fails.
 */
export async function writeExtentFragments(
  engine: Engine,
  identity: ExtentIdentity,
  payloads: readonly { index: number; payload: Uint8Array; checksum: bigint }[],
  options: { exclude?: ReadonlySet<string>; preferred?: ReadonlyMap<number, string>; dirs: DirectorySync; written: string[] },
): Promise<PlacedFragment[]> {
  const used = new Set(options.exclude ?? []);
  const failed = new Set<string>();
  const policyName = formatPolicy(identity.policy);
  const targets = new Map<number, string>();
  for (const { index } of payloads) {
    const preferred = options.preferred?.get(index);
    const state = preferred ? engine.catalog.diskRef(preferred)?.state : undefined;
    // A suspect disk only as a repair's last resort (maintenance.ts puts it here then): it takes no new data.
    if (preferred && !used.has(preferred) && (state === 'healthy' || state === 'suspect')) {
      targets.set(index, preferred);
      used.add(preferred);
    }
  }
  const rest = payloads.filter((p) => !targets.has(p.index));
  const chosen = chooseDisks(engine.disks.placementCandidates(), rest.length, policyName, used);
  rest.forEach((p, i) => {
    targets.set(p.index, chosen[i]!);
    used.add(chosen[i]!);
  });
  const settled = await Promise.allSettled(
    payloads.map(async ({ index, payload, checksum }): Promise<PlacedFragment> => {
      const header = encodeHeader({ ...identity, index, payloadLength: payload.length, payloadChecksum: checksum }, engine.hash);
      for (;;) {
        const diskId = targets.get(index)!;
        const diskPath = engine.disks.path(diskId);
        try {
          // A disk removed from the pool since it was chosen fails like a disk whose folder vanished.
          if (diskPath === null) throw new FragmentWriteError(diskId, 'open', 'ENOENT', `disk ${diskId} (no longer in the pool)`, null);
          const path = fragmentPath(diskPath, identity.extentId, index);
          const bytes = await writeFragmentFile(diskId, path, [header, payload]);
          options.written.push(path);
          options.dirs.add(diskId, path);
          engine.io.write(diskId, bytes);
          engine.disks.noteWritten(diskId, bytes);
          return { index, diskId, checksum: hex64(checksum), bytes };
        } catch (error) {
          if (!(error instanceof FragmentWriteError)) throw error;
          log('store').warn({ disk: diskId, phase: error.phase, errno: error.errno, extent: identity.extentId, fragment: index }, 'fragment write failed; trying another disk');
          engine.disks.noteWriteFailure(diskId, error.phase, error.errno);
          failed.add(diskId);
          const avoid = new Set([...used, ...failed]);
          if (engine.disks.placementCandidates(avoid).length === 0) {
            throw new DfsError('DFS_ERR_WRITE_FAILED', `fragment ${index} of ${policyName}: ${error.message}; no other healthy disk left`, { cause: error });
          }
          const [next] = chooseDisks(engine.disks.placementCandidates(), 1, policyName, avoid);
          targets.set(index, next!);
          used.add(next!);
        }
      }
    }),
  );
  // Every write has ended (none left running to leave a file behind a cleanup).
  const rejected = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<PlacedFragment>).value);
}

/**
 * A put's extent buffers, leased from the engine's arena (see src/buffers).
 * It starts with what it cannot do without, taken at once (one buffer for an
 * object known to fit one extent, else two: one filling while one is
 * stored), and takes more, up to `max`, only when the arena has them free
 * now; past that it waits for its own buffers to come back. So a put never
 * waits for memory while holding some, and concurrent puts cannot deadlock.
 */
class PutBuffers {
  private readonly leases: Lease[] = [];
  private readonly free: Lease[] = [];
  private readonly waiters: ((lease: Lease) => void)[] = [];

  private constructor(private readonly arena: BufferArena, readonly bytes: number, private readonly max: number) {}

  static async lease(arena: BufferArena, bytes: number, first: number, max: number): Promise<PutBuffers> {
    const buffers = new PutBuffers(arena, bytes, max);
    const leases = await arena.acquire(new Array<number>(first).fill(bytes));
    buffers.leases.push(...leases);
    buffers.free.push(...leases);
    return buffers;
  }

  take(): Promise<Lease> {
    let lease = this.free.pop();
    if (!lease && this.leases.length < this.max) {
      lease = this.arena.tryAcquire(this.bytes) ?? undefined;
      if (lease) this.leases.push(lease);
    }
    return lease ? Promise.resolve(lease) : new Promise((resolve) => this.waiters.push(resolve));
  }

  give(lease: Lease): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(lease);
    else this.free.push(lease);
  }

  /** Back to the arena (every store has ended). */
  close(): void {
    for (const lease of this.leases) lease.release();
    this.leases.length = 0;
  }
}

/**
 * Encodes the extent in `buffer[0..length)`: under EC the worker writes the
 * parity after the (zero-padded) data in the same buffer; under replication
 * every copy is the data itself. Returns each fragment's payload (views of
 * `buffer`) with its checksum, and the extent's checksum.
 */
export async function encodeExtent(engine: Engine, policy: Policy, buffer: Uint8Array, length: number): Promise<{
  fragmentLength: number; payloads: { index: number; payload: Uint8Array; checksum: bigint }[]; extentChecksum: bigint;
}> {
  const fragmentLength = fragmentPayloadLength(policy, length);
  const data = buffer.subarray(0, length);
  if (policy.kind === 'replication') {
    const extentChecksum = engine.hash(data);
    return { fragmentLength, extentChecksum, payloads: Array.from({ length: policy.copies }, (_, index) => ({ index, checksum: extentChecksum, payload: data })) };
  }
  buffer.fill(0, length, policy.k * fragmentLength);
  const parityStart = policy.k * fragmentLength;
  const encoded = await engine.workers().encode(policy.k, policy.m, data, buffer.subarray(parityStart, parityStart + policy.m * fragmentLength));
  return {
    fragmentLength,
    extentChecksum: encoded.extentHash,
    payloads: encoded.fragmentHashes.map((checksum, index) => ({
      index,
      checksum,
      payload: index < policy.k
        ? buffer.subarray(index * fragmentLength, (index + 1) * fragmentLength)
        : encoded.parity.subarray((index - policy.k) * fragmentLength, (index - policy.k + 1) * fragmentLength),
    })),
  };
}

/** Bytes of one extent's buffer: the extent's bytes, and for EC room for all K+M fragments (the worker writes the parity after the data). */
export function extentBufferBytes(policy: Policy, length: number): number {
  return policy.kind === 'ec' ? (policy.k + policy.m) * fragmentPayloadLength(policy, length) : length;
}

export async function putObject(engine: Engine, source: ExtentSource, keyInput: string, options: PutOptions = {}): Promise<PutResult> {
  let key: string;
  const policy = options.policy ?? engine.defaultPolicy();
  const policyName = formatPolicy(policy);
  try {
    key = checkKey(keyInput, options.internal);
    if (options.partOf !== undefined) checkKey(options.partOf);
    engine.disks.checkPlaceable(policy);
  } catch (error) {
    await source.close().catch(() => {}); // refused before reading: release the input (a file, a request body)
    throw error;
  }
  if (options.partOf === undefined && options.duringCommit === undefined && packable(engine, source.sizeHint, key)) return putPacked(engine, source, key, policy, options);
  /** What the fragments' headers say of the object: its key (or, for a part, its upload's) and whether it is a part. */
  const headerKey = options.partOf ?? key;
  const payloadOffset = headerLengthFor(Buffer.byteLength(headerKey, 'utf8'));
  const extentSize = engine.extentSize;
  // A source that says it is shorter than an extent gets buffers of its size (a 4 KiB object
  // takes 8 KiB of the arena, not an extent's 1.5 MiB); if it turns out longer, the put moves
  // to whole-extent buffers (grow, below).
  const hint = source.sizeHint;
  const small = hint !== null && hint < extentSize;
  let capacity = small ? hint : extentSize;
  let ring: PutBuffers;
  try {
    ring = await PutBuffers.lease(engine.buffers, extentBufferBytes(policy, capacity), small ? 1 : 2, EXTENTS_IN_FLIGHT + 2);
  } catch (error) {
    await source.close().catch(() => {});
    throw error;
  }
  const objectId = newId();
  // A record of this put until it ends: if the process is killed, status and gc know its files.
  const endWrite = engine.beginWrite(objectId, key);
  const createdAt = options.createdAt ?? Date.now();
  const dirs = new DirectorySync();
  const written: string[] = [];
  const extents: NewExtent[] = [];
  const checksums: bigint[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown = null;
  let bytesDone = 0;
  let size = 0;

  const storeExtent = async (seq: number, lease: Lease, length: number, last: boolean, offset: number, seen: Promise<void> | void): Promise<void> => {
    const done = engine.foreground.begin();
    const buffer = lease.bytes;
    try {
      const { fragmentLength, payloads, extentChecksum } = await encodeExtent(engine, policy, buffer, length);
      const extentId = newId();
      const identity: ExtentIdentity = {
        poolId: engine.poolId, extentId, objectId, policy, extentSize: length, extentChecksum,
        objectSize: last ? offset + length : null, createdAt, seq, last, key: headerKey, ...(options.partOf !== undefined ? { part: true } : {}),
      };
      const placed = await writeExtentFragments(engine, identity, payloads, { dirs, written });
      if (failure) return;
      checksums[seq] = extentChecksum;
      extents[seq] = {
        id: extentId, seq, size: length, policy: policyName, need: policyNeed(policy), width: policyWidth(policy),
        fragmentLength, payloadOffset, checksum: hex64(extentChecksum),
        fragments: placed.map((p) => ({ index: p.index, diskId: p.diskId, checksum: p.checksum, bytes: p.bytes })),
      };
      bytesDone += length;
      options.onProgress?.(bytesDone, source.sizeHint);
    } finally {
      done();
      await Promise.resolve(seen).catch(() => {});
      ring.give(lease);
    }
  };

  const launch = (task: Promise<void>) => {
    const tracked = task.catch((error: unknown) => {
      failure ??= error;
    }).finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };

  /** Fills a buffer with the next bytes: up to `capacity`, and never more than an extent. */
  const fill = async (lease: Lease) => source.fill(lease.bytes.subarray(0, Math.min(capacity, extentSize)));
  /**
   * The source said it was shorter than an extent and has more: take whole-extent buffers
   * (after giving the small one back, so that no wait for memory happens while holding some)
   * and carry on with the bytes read so far.
   */
  const grow = async (lease: Lease, length: number, extra: Uint8Array): Promise<{ lease: Lease; length: number }> => {
    const held = Buffer.concat([lease.bytes.subarray(0, length), extra]);
    ring.give(lease);
    ring.close();
    capacity = extentSize;
    ring = await PutBuffers.lease(engine.buffers, extentBufferBytes(policy, extentSize), 2, EXTENTS_IN_FLIGHT + 2);
    const big = await ring.take();
    big.bytes.set(held);
    const more = await source.fill(big.bytes.subarray(held.length, extentSize));
    return { lease: big, length: held.length + more };
  };

  try {
    let current = await ring.take();
    let currentLength = await fill(current);
    if (small && currentLength === capacity) {
      // As long as announced: one more byte tells whether that was all.
      const probe = new Uint8Array(1);
      if ((await source.fill(probe)) === 1) ({ lease: current, length: currentLength } = await grow(current, currentLength, probe));
    }
    for (let seq = 0; !failure; seq++) {
      if (currentLength === 0 && seq === 0) {
        ring.give(current);
        break;
      }
      let next: Lease | null = null;
      let nextLength = 0;
      if (currentLength === extentSize) {
        // Read one extent ahead: the last extent says so in its header.
        next = await ring.take();
        nextLength = await fill(next);
        if (nextLength === 0) {
          ring.give(next);
          next = null;
        }
      }
      const last = next === null;
      const seen = options.onExtent?.(current.bytes.subarray(0, currentLength));
      launch(storeExtent(seq, current, currentLength, last, size, seen));
      size += currentLength;
      if (last) break;
      current = next!;
      currentLength = nextLength;
      while (inFlight.size >= EXTENTS_IN_FLIGHT && !failure) await Promise.race(inFlight);
    }
  } catch (error) {
    failure ??= error;
  } finally {
    await Promise.allSettled([...inFlight]);
    ring.close();
    await source.close().catch(() => {});
  }

  let removed: ExtentWithFragments[] = [];
  let checksum = 0n;
  let replaced = false;
  try {
    if (failure) throw failure;
    await dirs.syncAll();
    checksum = objectChecksum(checksums, engine.hash);
    const object: ObjectRow = { id: objectId, key, size, policy: policyName, checksum: hex64(checksum), extents: extents.length, createdAt };
    const meta = (await options.beforeCommit?.(size)) ?? options.meta;
    replaced = engine.catalog.object(key) !== null;
    removed = engine.catalog.commitObject(object, extents, {
      ...(options.expectReplace === undefined ? {} : { expectReplace: options.expectReplace }),
      ...(meta !== undefined ? { meta } : {}),
      ...(options.duringCommit !== undefined ? { also: options.duringCommit } : {}),
    });
  } catch (error) {
    if (error instanceof FragmentWriteError) engine.disks.noteWriteFailure(error.diskId, error.phase, error.errno);
    await Promise.all(written.map(removeFile));
    endWrite();
    if (error instanceof FragmentWriteError) throw new DfsError('DFS_ERR_WRITE_FAILED', error.message, { cause: error });
    throw error;
  }
  endWrite();
  await deleteExtentFiles(engine, removed);
  log('store').info({ key, size, extents: extents.length, policy: policyName, replaced }, 'object stored');
  return { key, size, policy: policyName, extents: extents.length, checksum: hex64(checksum), objectId, replaced };
}

/**
 * A small object: read whole (it is at most packing.maxObjectBytes), then
 * added to its policy's open group (packs.ts), answered once the group is
 * durable. An input longer than it said goes the ordinary way, with the
 * bytes read so far in front.
 */
async function putPacked(engine: Engine, source: ExtentSource, key: string, policy: Policy, options: PutOptions): Promise<PutResult> {
  const announced = source.sizeHint!;
  // On the heap, not in the buffer arena: a put waiting for its group must hold no arena memory,
  // since the group's write takes its buffer from the arena (and waits for it when it is full).
  const data = Buffer.allocUnsafe(announced + 1);
  let got: number;
  try {
    got = await source.fill(data);
  } catch (error) {
    await source.close().catch(() => {});
    throw error;
  }
  if (got > announced || got === 0) return putObject(engine, prefixedSource(data.subarray(0, got), source), key, options);
  await source.close().catch(() => {});
  const bytes = data.subarray(0, got);
  await options.onExtent?.(bytes);
  const meta = (await options.beforeCommit?.(got)) ?? options.meta;
  const objectId = newId();
  const checksum = engine.hash(bytes);
  const { replaced } = await engine.packs.add(policy, {
    objectId, key, data: bytes, createdAt: options.createdAt ?? Date.now(), checksum,
    ...(options.expectReplace !== undefined ? { expectReplace: options.expectReplace } : {}),
    ...(meta !== undefined ? { meta } : {}),
  });
  options.onProgress?.(got, got);
  log('store').debug({ key, size: got, policy: formatPolicy(policy), replaced }, 'object stored in a pack');
  return { key, size: got, policy: formatPolicy(policy), extents: 1, checksum: hex64(objectChecksum([checksum], engine.hash)), objectId, replaced };
}

/** A source that gives `prefix` first, then the rest of `source` (of no known size). */
function prefixedSource(prefix: Uint8Array, source: ExtentSource): ExtentSource {
  let at = 0;
  return {
    sizeHint: null,
    async fill(into) {
      const n = Math.min(into.length, prefix.length - at);
      into.set(prefix.subarray(at, at + n));
      at += n;
      return n < into.length ? n + (await source.fill(into.subarray(n))) : n;
    },
    close: () => source.close(),
  };
}

/** Deletes the files of extents no longer in the catalogue; what cannot be deleted now is left to gc. */
export async function deleteExtentFiles(engine: Engine, extents: readonly ExtentWithFragments[]): Promise<number> {
  let removed = 0;
  // Several extents at once: one at a time, a 64 MiB object's 384 files took 90 ms to go here.
  await forEachLimited(extents, DELETE_EXTENTS_AT_ONCE, async (extent) => {
    engine.cache.delete(extent.id);
    await Promise.all(
      extent.fragments.map(async (f) => {
        const path = engine.disks.fragmentFile(f.diskId, extent.id, f.index);
        if (path && (await removeFile(path))) removed++;
      }),
    );
  });
  return removed;
}

/** Deletes an object: its rows go in one transaction, then its fragment files. */
export async function deleteObject(engine: Engine, keyInput: string, internal = false): Promise<{ key: string; size: number; extents: number; fragmentsRemoved: number }> {
  const key = checkKey(keyInput, internal);
  const removed = engine.catalog.deleteObject(key);
  if (!removed) throw new DfsError('DFS_ERR_OBJECT_NOT_FOUND', JSON.stringify(key));
  // On record before the answer: a small object's bytes stay in its pack until compaction, and a
  // catalogue rebuilt from the disks must not bring it back.
  await engine.tombstones.record({ key, createdAt: removed.object.createdAt, deletedAt: Date.now() }).catch((error: unknown) => {
    log('store').warn({ key, err: (error as Error).message }, 'the delete is not on record on any disk: recover-catalog could bring the object back');
  });
  const fragmentsRemoved = await deleteExtentFiles(engine, removed.extents);
  log('store').info({ key, size: removed.object.size, extents: removed.extents.length }, 'object deleted');
  return { key, size: removed.object.size, extents: removed.extents.length, fragmentsRemoved };
}
