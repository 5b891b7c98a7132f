// Small objects: packed extents with group commit, reads of one object's
// bytes, and compaction.
//
// An object of at most packing.maxObjectBytes is not given extents of its
// own. It joins the open group of its policy; the group is written once it
// holds packing.groupBytes or packing.windowMs after its first object came,
// whichever is first: one extent (the pack: a record per object, see
// format/pack-format.ts), one encode, one set of fragment writes and fsyncs,
// one catalogue transaction for every object in it. No put is answered
// before its group is durable; a put waits at most the window, and a lone
// client's (nothing being written, the last group held one object) not at all.
//
//   put ─▶ open group (per policy) ─window or full─▶ records in a leased buffer
//       ─encode─▶ fragments ─tmp+fdatasync+rename─▶ disks ─dir fsync─▶ one commit ─▶ every put answered
//
// A pack is immutable. A delete or overwrite only drops the object's row and
// leaves dead bytes; a pack with nothing live left is deleted at once, and
// compaction (gc, and the daemon when the pool is idle) moves the live
// objects of packs below packing.compactBelow live into a new pack, commits
// the move, then deletes the old packs' files.
import { DfsError } from '../errors.js';
import { log } from '../log/index.js';
import type { ExtentWithFragments, NewExtent, ObjectRow, PackedRow, PackRow } from '../catalog/index.js';
import { Turns, gateIndexOf } from '../kernels/index.js';
import { formatPolicy, fragmentPayloadLength, parsePolicy, policyNeed, policyWidth, type Policy } from '../pool/index.js';
import { headerLengthFor, hex64, parseHex64, recordBytes, writeRecordHeader } from '../format/index.js';
import type { Engine } from './engine.js';
import { DirectorySync, FragmentWriteError, readAt, removeFile } from './fragment-io.js';
import { newId, objectChecksum } from './object-meta.js';
import { readExtent } from './reader.js';
import { deleteExtentFiles, encodeExtent, extentBufferBytes, writeExtentFragments, type ExtentIdentity } from './writer.js';

/** One object waiting for its group to be written. */
interface Pending {
  objectId: string;
  key: string;
  data: Uint8Array;
  createdAt: number;
  checksum: bigint;
  expectReplace?: string | null;
  /** Set for a move by compaction: where the object is now (the move applies only if it is still there). */
  from?: string;
  /** The object's attributes (PutOptions.meta). */
  meta?: string;
  /** Its record's bytes in the pack (header, key, data). */
  recordSize: number;
  resolve(result: { replaced: boolean; offset: number }): void;
  reject(error: unknown): void;
}

interface Group {
  policy: Policy;
  entries: Pending[];
  bytes: number;
  timer: NodeJS.Timeout | null;
  /** The window has passed while a group of the same name was being written: this one goes when that write ends. */
  due?: boolean;
}

/** Figures for metrics and bench:small. */
export interface PackStats {
  groupsWritten: number;
  objectsWritten: number;
  bytesWritten: number;
}

/** The bytes a group may hold: packing.groupBytes, and never more than an extent. */
function groupLimit(engine: Engine): number {
  return Math.min(engine.config.packing.groupBytes, engine.extentSize);
}

/** The file system block (4 KiB on ext4, XFS and most others): fragment files take whole ones. */
const FS_BLOCK = 4096;

/**
 * How many of a group's records (their sizes in order) to write now. Every
 * fragment file of the pack takes whole blocks, so a group whose fragments
 * cross a block boundary by a little wastes most of a block on each of its
 * disks: 16 clients' 4 KiB objects under ec:4+2 make fragments just over
 * 16 KiB, five blocks where four would nearly do (npm run bench:small). When
 * the last block would be less than a quarter used, the records that spill
 * into it wait for the next group instead, which comes a window later under
 * load. At least one record is always written, so nothing waits twice.
 */
export function blockCut(policy: Policy, sizes: number[]): number {
  const fileBytes = (bytes: number): number => headerLengthFor(0) + fragmentPayloadLength(policy, bytes);
  const total = sizes.reduce((a, b) => a + b, 0);
  const blocks = Math.ceil(fileBytes(total) / FS_BLOCK);
  if (sizes.length < 2 || blocks < 2 || fileBytes(total) - (blocks - 1) * FS_BLOCK > FS_BLOCK / 4) return sizes.length;
  let keep = 0;
  let bytes = 0;
  while (keep < sizes.length && fileBytes(bytes + sizes[keep]!) <= (blocks - 1) * FS_BLOCK) bytes += sizes[keep++]!;
  return Math.max(keep, 1);
}

/** Whether an object of `size` bytes under `key` goes into a pack. */
export function packable(engine: Engine, size: number | null, key: string): boolean {
  const { maxObjectBytes } = engine.config.packing;
  return size !== null && size > 0 && size <= maxObjectBytes && recordBytes(Buffer.byteLength(key, 'utf8'), size) <= groupLimit(engine);
}

export class PackWriter {
  readonly stats: PackStats = { groupsWritten: 0, objectsWritten: 0, bytesWritten: 0 };
  private readonly open = new Map<string, Group>();
  private readonly writing = new Set<Promise<void>>();
  /** Groups being written, by name (policy, or policy and moves). */
  private readonly writingByName = new Map<string, number>();
  /** Objects in the last group written (1 when puts come one at a time). */
  private lastGroupSize = 0;
  /** Compactions, one at a time. */
  private readonly compactions = new Turns();

  constructor(private readonly engine: Engine) {}

  /**
   * Adds an object to the open group of its policy; resolves once the group
   * is durable and the object visible (or rejects with the group's error).
   */
  add(policy: Policy, entry: Omit<Pending, 'resolve' | 'reject' | 'checksum' | 'recordSize'> & { checksum?: bigint }): Promise<{ replaced: boolean; offset: number }> {
    return new Promise((resolve, reject) => {
      const size = recordBytes(Buffer.byteLength(entry.key, 'utf8'), entry.data.length);
      const pending: Pending = { ...entry, checksum: entry.checksum ?? this.engine.hash(entry.data), recordSize: size, resolve, reject };
      // Moves by compaction form groups of their own (committed as moves, not new objects).
      const name = `${formatPolicy(policy)}${entry.from !== undefined ? ' moves' : ''}`;
      let group = this.open.get(name);
      if (group && group.bytes + size > groupLimit(this.engine)) {
        this.flush(name);
        group = this.open.get(name); // what the flush held back, if anything
      }
      // A put that finds nothing being written, after a group of one, is a lone client's: waiting
      // would find no company, so it goes at once. Otherwise puts wait for company, at most the window.
      const alone = !group && this.writing.size === 0 && this.lastGroupSize <= 1 && entry.from === undefined;
      if (!group) {
        group = { policy, entries: [], bytes: 0, timer: null };
        this.open.set(name, group);
        if (!alone) group.timer = setTimeout(() => this.windowPassed(name), this.engine.config.packing.windowMs);
      }
      group.entries.push(pending);
      group.bytes += size;
      if (alone || group.bytes >= groupLimit(this.engine)) this.flush(name);
    });
  }

  /**
   * The window of an open group has passed. If a group of the same name is
   * being written, this one keeps gathering until that write ends (group
   * commit as databases do it: the puts that come while one flush runs share
   * the next), so that under load groups grow to what the clients have in
   * flight instead of splitting into small concurrent ones (small groups leave
   * most of a block empty in each fragment file: npm run bench:small). A lone
   * client's put never waits: it goes at once (see add).
   */
  private windowPassed(name: string): void {
    const group = this.open.get(name);
    if (!group) return;
    group.timer = null;
    if ((this.writingByName.get(name) ?? 0) > 0) group.due = true;
    else this.flush(name);
  }

  /**
   * Writes the open group of a policy now: all of it, or (unless `whole`)
   * the objects that fill its fragment files' blocks, holding back the few
   * that would spill into one more, mostly empty, block (see blockCut).
   */
  private flush(name: string, whole = false): void {
    const group = this.open.get(name);
    if (!group) return;
    this.open.delete(name);
    if (group.timer) clearTimeout(group.timer);
    // Compaction's moves are not cut: nobody waits on them, and the pack they fill is mostly whole blocks already.
    const cut = !whole && group.entries[0]?.from === undefined;
    const keep = cut ? blockCut(group.policy, group.entries.map((e) => e.recordSize)) : group.entries.length;
    if (keep < group.entries.length) {
      // The rest opens the next group, written after this one (it is due: see windowPassed).
      const rest = group.entries.splice(keep);
      const restBytes = rest.reduce((sum, e) => sum + e.recordSize, 0);
      group.bytes -= restBytes;
      this.open.set(name, { policy: group.policy, entries: rest, bytes: restBytes, timer: null, due: true });
    }
    this.lastGroupSize = group.entries.length;
    this.writingByName.set(name, (this.writingByName.get(name) ?? 0) + 1);
    const writing = this.write(group).finally(() => {
      this.writing.delete(writing);
      const left = this.writingByName.get(name)! - 1;
      if (left > 0) this.writingByName.set(name, left);
      else this.writingByName.delete(name);
      const next = left === 0 ? this.open.get(name) : undefined;
      if (next?.due) {
        // The puts this write answers come back within about a window: they join this group.
        next.due = false;
        next.timer = setTimeout(() => this.windowPassed(name), this.engine.config.packing.windowMs);
      }
    });
    this.writing.add(writing);
  }

  /** Runs `fn` once no other compaction runs. */
  oneCompaction<T>(fn: () => Promise<T>): Promise<T> {
    return this.compactions.run(fn);
  }

  /** Writes every open group and waits for all writes (the engine's close). */
  async close(): Promise<void> {
    while (this.open.size > 0) for (const name of [...this.open.keys()]) this.flush(name, true);
    await Promise.allSettled([...this.writing]);
  }

  private async write(group: Group): Promise<void> {
    const { engine } = this;
    const { policy, entries } = group;
    const policyName = formatPolicy(policy);
    const packId = newId();
    const endWrite = engine.beginWrite(packId, '');
    const dirs = new DirectorySync();
    const written: string[] = [];
    const moves = entries.every((e) => e.from !== undefined);
    // A client's put is foreground work (background work yields to it); compaction is not.
    const done = moves ? () => {} : engine.foreground.begin();
    let lease = null;
    try {
      lease = (await engine.buffers.acquire([extentBufferBytes(policy, group.bytes)]))[0]!;
      const buffer = lease.bytes;
      const offsets: number[] = [];
      let at = 0;
      for (const e of entries) {
        const dataAt = writeRecordHeader(buffer, at, { objectId: e.objectId, key: e.key, size: e.data.length, createdAt: e.createdAt, checksum: e.checksum });
        buffer.set(e.data, dataAt);
        offsets.push(dataAt);
        at = dataAt + e.data.length;
      }
      const { fragmentLength, payloads, extentChecksum } = await encodeExtent(engine, policy, buffer, at);
      const extentId = newId();
      const createdAt = Date.now();
      const identity: ExtentIdentity = {
        poolId: engine.poolId, extentId, objectId: packId, policy, extentSize: at, extentChecksum,
        objectSize: at, createdAt, seq: 0, last: true, key: '', pack: true,
      };
      const placed = await writeExtentFragments(engine, identity, payloads, { dirs, written });
      await dirs.syncAll();
      const extent: NewExtent = {
        id: extentId, seq: 0, size: at, policy: policyName, need: policyNeed(policy), width: policyWidth(policy),
        fragmentLength, payloadOffset: headerLengthFor(0), checksum: hex64(extentChecksum),
        fragments: placed.map((p) => ({ index: p.index, diskId: p.diskId, checksum: p.checksum, bytes: p.bytes })),
      };
      lease.release();
      lease = null;
      const pack = { packId, extent, createdAt };
      let removed: ExtentWithFragments[];
      if (moves) {
        // A compaction: the objects exist already and move.
        const { dropped } = engine.catalog.movePacked(pack, entries.map((e, i) => ({ objectId: e.objectId, from: e.from!, offset: offsets[i]! })));
        removed = dropped;
        endWrite();
        entries.forEach((e, i) => e.resolve({ replaced: true, offset: offsets[i]! }));
      } else {
        const committed = engine.catalog.commitPacked(pack, entries.map((e, i) => ({
          object: { id: e.objectId, key: e.key, size: e.data.length, policy: policyName, checksum: hex64(objectChecksum([e.checksum], engine.hash)), extents: 1, createdAt: e.createdAt },
          offset: offsets[i]!,
          checksum: hex64(e.checksum),
          ...(e.expectReplace !== undefined ? { expectReplace: e.expectReplace } : {}),
          ...(e.meta !== undefined ? { meta: e.meta } : {}),
        })));
        removed = committed.removed;
        endWrite();
        committed.outcomes.forEach((outcome, i) => (outcome instanceof DfsError ? entries[i]!.reject(outcome) : entries[i]!.resolve({ ...outcome, offset: offsets[i]! })));
      }
      this.stats.groupsWritten++;
      this.stats.objectsWritten += entries.length;
      this.stats.bytesWritten += at;
      log('store').debug({ pack: extentId, objects: entries.length, bytes: at, policy: policyName }, 'pack written');
      await deleteExtentFiles(engine, removed);
    } catch (error) {
      lease?.release();
      if (error instanceof FragmentWriteError) engine.disks.noteWriteFailure(error.diskId, error.phase, error.errno);
      await Promise.all(written.map(removeFile));
      endWrite();
      const failure = error instanceof FragmentWriteError ? new DfsError('DFS_ERR_WRITE_FAILED', error.message, { cause: error }) : error;
      for (const e of entries) e.reject(failure);
    } finally {
      done();
    }
  }
}

/**
 * The object's bytes read straight from where they lie: the data fragments
 * that hold them (EC) or the first replica that has them whole, checked
 * against the object's checksum. Null when that fails in any way (the caller
 * then reads the whole pack, which verifies and reconstructs fragment by fragment).
 */
async function readDirect(engine: Engine, extent: ExtentWithFragments, row: PackedRow, data: Uint8Array): Promise<Uint8Array | null> {
  const expected = parseHex64(row.checksum);
  const path = (index: number): { file: string; disk: number } | null => {
    const f = extent.fragments.find((x) => x.index === index);
    if (!f || f.state !== 'ok') return null;
    const disk = engine.catalog.diskRef(f.diskId);
    const file = disk && disk.state !== 'failed' ? engine.disks.fragmentFile(f.diskId, extent.id, index) : null;
    return file ? { file, disk: gateIndexOf(f.diskId) } : null;
  };
  try {
    if (extent.policy.startsWith('replication')) {
      for (let i = 0; i < extent.width; i++) {
        const where = path(i);
        if (!where) continue;
        const got = await readAt(where.file, data, extent.payloadOffset + row.offset, where.disk).catch(() => 0);
        if (got === row.length && engine.hash(data) === expected) return data;
      }
      return null;
    }
    // EC: data fragment j holds the extent's bytes [j*L, (j+1)*L).
    const L = extent.fragmentLength;
    for (let at = row.offset; at < row.offset + row.length;) {
      const j = Math.floor(at / L);
      const end = Math.min(row.offset + row.length, (j + 1) * L);
      const where = path(j);
      if (!where) return null;
      const part = data.subarray(at - row.offset, end - row.offset);
      if ((await readAt(where.file, part, extent.payloadOffset + (at - j * L), where.disk)) !== part.length) return null;
      at = end;
    }
    return engine.hash(data) === expected ? data : null;
  } catch {
    return null;
  }
}

/**
 * The verified bytes of a packed object. The fast way reads only its bytes;
 * if they do not check out, the whole pack is read through the workers (which
 * check every fragment, record bad ones and reconstruct), and the object's
 * bytes are checked again: wrong bytes are never returned.
 */
export async function readPacked(engine: Engine, object: ObjectRow, row: PackedRow, options: { background?: boolean } = {}): Promise<{ data: Uint8Array; release: () => void }> {
  const extent = engine.catalog.extent(row.extentId);
  if (!extent) throw new DfsError('DFS_ERR_OBJECT_CHANGED', `"${object.key}" was replaced or deleted while it was being read`);
  // A client's read is foreground work (background work yields to it); compaction's is not.
  const done = options.background ? () => {} : engine.foreground.begin();
  // The bytes land in a block of the buffer arena when one is free (no heap churn per small GET), else on the heap.
  const lease = engine.buffers.tryAcquire(row.length);
  const release = () => lease?.release();
  try {
    const direct = await readDirect(engine, extent, row, lease ? lease.bytes : Buffer.allocUnsafe(row.length));
    if (direct) return { data: direct, release };
    release();
    log('store').warn({ key: object.key, pack: extent.id }, 'packed object did not check out from its fragments directly; reading the whole pack');
    const whole = await readExtent(engine, extent, object.key);
    const data = whole.subarray(row.offset, row.offset + row.length);
    if (data.length !== row.length || engine.hash(data) !== parseHex64(row.checksum)) {
      throw new DfsError('DFS_ERR_EXTENT_UNRECOVERABLE', `"${object.key}": its bytes in pack ${extent.id} do not match its checksum`, { details: { key: object.key, extent: extent.id, seq: 0 } });
    }
    return { data, release: () => {} };
  } catch (error) {
    release();
    throw error;
  } finally {
    done();
  }
}

export interface CompactSummary {
  packsRewritten: number;
  objectsMoved: number;
  bytesMoved: number;
  /** Dead bytes the rewritten packs held (freed once their files go). */
  bytesReclaimed: number;
  packsEmptied: number;
}

/**
 * Rewrites packs whose live bytes are below packing.compactBelow of their
 * size, and merges small packs (under a quarter of a group: what a few
 * concurrent puts leave) into full ones. The live objects of a run of packs
 * are read (verified) and added to move groups, which fill and are written
 * like any group; each group's commit moves its objects, and an old pack
 * left with nothing live goes, its files deleted after the commit. A crash
 * before a commit leaves new files no row names (gc takes them); after it,
 * old files no row names (the same).
 */
export async function compactPacks(engine: Engine, options: { dryRun?: boolean; maxPacks?: number; shouldStop?: () => boolean } = {}): Promise<CompactSummary> {
  // One compaction at a time (gc's and the daemon's): two would both copy the same live objects.
  return engine.packs.oneCompaction(() => compactOnce(engine, options));
}

async function compactOnce(engine: Engine, options: { dryRun?: boolean; maxPacks?: number; shouldStop?: () => boolean }): Promise<CompactSummary> {
  const summary: CompactSummary = { packsRewritten: 0, objectsMoved: 0, bytesMoved: 0, bytesReclaimed: 0, packsEmptied: 0 };
  const share = engine.config.packing.compactBelow;
  const limit = groupLimit(engine);
  const small = Math.floor(limit / 4);
  // Packs written in the last second may still be answering their puts: left for the next round.
  let candidates = engine.catalog.packsToCompact(share, small, options.maxPacks ?? 100_000, Date.now() - 1000);
  // A small pack on its own would only be rewritten as itself: merging needs two.
  const dead = (p: PackRow) => p.liveBytes < p.bytes * share;
  if (candidates.filter((p) => !dead(p)).length === 1) candidates = candidates.filter(dead);
  const pending: Promise<void>[] = [];
  let pendingBytes = 0;
  const settle = async () => {
    await Promise.all(pending.splice(0));
    pendingBytes = 0;
  };
  for (const pack of candidates) {
    if (options.shouldStop?.()) break;
    summary.packsRewritten++;
    summary.bytesReclaimed += pack.bytes - pack.liveBytes;
    if (options.dryRun) {
      summary.objectsMoved += pack.liveObjects;
      summary.bytesMoved += pack.liveBytes;
      continue;
    }
    const extent = engine.catalog.extent(pack.extentId);
    if (!extent) continue;
    const rows = engine.catalog.packedIn(pack.extentId);
    if (rows.length === 0) {
      // Nothing live (every object of its group failed, say): the pack just goes.
      await deleteExtentFiles(engine, engine.catalog.dropEmptyPack(pack.extentId));
      summary.packsEmptied++;
      continue;
    }
    const policy = parsePolicy(extent.policy);
    for (const row of rows) {
      pending.push((async () => {
        const object = engine.catalog.objectById(row.objectId);
        if (!object) return;
        // Copied out of any arena block before it waits for its group (whose write takes arena memory).
        const read = await readPacked(engine, object, row, { background: true });
        const data = Buffer.from(read.data);
        read.release();
        await engine.packs.add(policy, { objectId: object.id, key: object.key, data, createdAt: object.createdAt, checksum: parseHex64(row.checksum), from: pack.extentId });
        summary.objectsMoved++;
        summary.bytesMoved += row.length;
      })());
      pendingBytes += row.length;
    }
    // Several packs' objects at once, so that they fill groups together; at most a few groups' worth held.
    if (pendingBytes >= 4 * limit) await settle();
  }
  await settle();
  return summary;
}

/** How long the pool must have had no client I/O before background compaction starts a round, and between rounds. */
const COMPACT_IDLE_MS = 2000;
const COMPACT_EVERY_MS = 10_000;

/**
 * Compaction in the daemon: every 10 s, when no client I/O has run for 2 s,
 * a round of up to 1,000 packs, stopping between packs as soon as clients
 * are back. Like the scrubber, it never competes with a busy pool.
 */
export class BackgroundCompactor {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly engine: Engine) {}

  start(everyMs = COMPACT_EVERY_MS): void {
    this.timer = setInterval(() => void this.round(), everyMs);
    this.timer.unref();
  }

  async round(): Promise<CompactSummary | null> {
    const { engine } = this;
    if (this.running || this.stopped || engine.foreground.idleMs() < COMPACT_IDLE_MS) return null;
    let summary: CompactSummary | null = null;
    this.running = compactPacks(engine, { maxPacks: 1000, shouldStop: () => this.stopped || engine.foreground.idleMs() < COMPACT_IDLE_MS })
      .then((s) => {
        summary = s;
        if (s.packsRewritten > 0) log('store').info({ ...s }, 'packs compacted');
      }, (error: unknown) => log('store').warn({ err: (error as Error).message }, 'background compaction failed; it is tried again later'))
      .finally(() => { this.running = null; });
    await this.running;
    return summary;
  }

  /** Stops the timer and waits for a round under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
