// recover-catalog: rebuilds catalog.db from the fragment headers on the disks
// alone. Disks come from pool.json's registry (plus any given by hand); every
// fragment header is read and checked; extents are grouped into objects; an
// object is restored when all its extents, through the one flagged last, are
// found; of several versions of a key the newest complete one wins. A pack
// of small objects is read (verified, reconstructed where it must be) and
// each of its records, checked against its checksum, is a version like any
// other. A pack keeps the records of deleted objects until compaction
// rewrites it: the disks' tombstone logs (tombstones.ts) say which keys were
// deleted after their newest version found, and those stay deleted. A
// multipart completion whose headers still say "a part" is found by its
// assembly record (assembly-records.ts). The old
// catalogue, if any, is kept beside the new one as catalog.db.bak-<time>.
import { existsSync, renameSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Catalog, META_RECOVERED_AT, type NewExtent } from '../catalog/index.js';
import { DfsError } from '../errors.js';
import { resolveVariant, threadKernels, type KernelInstance } from '../kernels/index.js';
import { formatPolicy, fsyncDirectorySync, poolPaths, policyNeed, policyWidth, readLabel, readPoolConfig, PoolLock, writePoolConfig } from '../pool/index.js';
import { decodeHeader, fragmentPath, headerLengthFor, hex64, MAX_HEADER_BYTES, parseHex64, readRecords, type FragmentHeader } from '../format/index.js';
import { readAt } from './fragment-io.js';
import { objectChecksum } from './object-meta.js';
import { scanDisk } from './scan.js';
import { readTombstones } from './tombstones.js';
import { assemblyRecordsSync } from './assembly-records.js';

export interface RecoverSummary {
  disks: { id: string; path: string; fragments: number; skipped?: string }[];
  fragmentsFound: number;
  fragmentsInvalid: number;
  extents: number;
  objectsRecovered: number;
  objectsIncomplete: { key: string; objectId: string; extentsFound: number }[];
  olderVersionsIgnored: number;
  /** Multipart completions whose headers were not all rewritten yet, made objects from their assembly records. */
  assembliesApplied: number;
  /** Extents of multipart uploads never completed: not objects, left to gc. */
  uploadPartExtents: number;
  /** Keys whose newest version found was deleted (a tombstone says so): not recovered. */
  deletedSkipped: number;
  /** Packs of small objects found, and those that could not be read (their objects are not recovered). */
  packs: number;
  packsUnreadable: string[];
  /** Events of the repair journal carried over from the catalogue replaced (0 when there was none, or it could not be read). */
  eventsKept: number;
  backup: string | null;
}

interface ExtentFound {
  header: FragmentHeader;
  fragments: Map<number, { diskId: string; checksum: string; bytes: number; payloadLength: number }>;
}

/**
 * A pack's bytes from its fragments: each fragment read is checked against
 * its header's checksum; under EC missing or bad data fragments are rebuilt
 * from the others. Null when the pack cannot be read back whole and verified.
 */
async function readPack(e: ExtentFound, disks: ReadonlyMap<string, string>, kernels: KernelInstance): Promise<Uint8Array | null> {
  const h = e.header;
  const length = h.payloadLength;
  const offset = headerLengthFor(0);
  const hash = (b: Uint8Array) => kernels.xxh3(b);
  const read = async (index: number, into: Uint8Array): Promise<boolean> => {
    const f = e.fragments.get(index);
    const disk = f ? disks.get(f.diskId) : undefined;
    if (!f || !disk) return false;
    const got = await readAt(fragmentPath(disk, h.extentId, index), into, offset).catch(() => 0);
    return got === length && hash(into) === parseHex64(f.checksum);
  };
  if (h.policy.kind === 'replication') {
    const into = new Uint8Array(length);
    for (const index of e.fragments.keys()) if (await read(index, into)) return into.subarray(0, h.extentSize);
    return null;
  }
  const { k, m } = h.policy;
  // Read and checked in memory of their own: a hash in WASM memory may move a region's views.
  const fragments: (Uint8Array | null)[] = [];
  for (let i = 0; i < k + m; i++) {
    const into = new Uint8Array(length);
    fragments.push((await read(i, into)) ? into : null);
  }
  if (fragments.filter(Boolean).length < k) return null;
  const data = new Uint8Array(h.extentSize);
  const place = (j: number, bytes: Uint8Array) => data.set(bytes.subarray(0, Math.max(0, Math.min(length, h.extentSize - j * length))), j * length);
  if (fragments.slice(0, k).every(Boolean)) fragments.slice(0, k).forEach((f, j) => place(j, f!));
  else {
    const region = kernels.region(k + m, length);
    fragments.forEach((f, i) => f && region.set(i, f));
    kernels.reconstructRegion(region, k, m, fragments.map(Boolean));
    for (let j = 0; j < k; j++) place(j, region.fragment(j));
  }
  return hash(data) === h.extentChecksum ? data : null;
}

export async function recoverCatalog(root: string, options: { extraDisks?: string[]; onProgress?: (files: number) => void } = {}): Promise<RecoverSummary> {
  const config = readPoolConfig(root);
  const paths = poolPaths(root);
  const lock = PoolLock.acquire(root, 'recover-catalog');
  try {
    const kernels = threadKernels(resolveVariant());
    const hash = (b: Uint8Array) => kernels.xxh3(b);
    const summary: RecoverSummary = {
      disks: [], fragmentsFound: 0, fragmentsInvalid: 0, extents: 0, objectsRecovered: 0, objectsIncomplete: [], olderVersionsIgnored: 0, assembliesApplied: 0, uploadPartExtents: 0, deletedSkipped: 0,
      packs: 0, packsUnreadable: [], eventsKept: 0, backup: null,
    };
    const candidates = [...config.disks.map((d) => d.path), ...(options.extraDisks ?? []).map((p) => resolve(p))];
    const disks = new Map<string, string>();
    for (const path of [...new Set(candidates)]) {
      const label = readLabel(path);
      if (label === null || label === 'invalid') {
        summary.disks.push({ id: '', path, fragments: 0, skipped: existsSync(path) ? 'no valid label' : 'folder missing' });
        continue;
      }
      if (label.poolId !== config.poolId) {
        summary.disks.push({ id: label.diskId, path, fragments: 0, skipped: `labelled for pool ${label.poolId}` });
        continue;
      }
      if (!disks.has(label.diskId)) disks.set(label.diskId, path);
    }
    const extents = new Map<string, ExtentFound>();
    const headerBuf = Buffer.alloc(MAX_HEADER_BYTES);
    let files = 0;
    for (const [diskId, diskPath] of disks) {
      let count = 0;
      for await (const file of scanDisk(diskPath)) {
        if (file.kind !== 'fragment') continue;
        options.onProgress?.(++files);
        let got = 0;
        let size = 0;
        try {
          const handle = await open(file.path, 'r');
          try {
            ({ bytesRead: got } = await handle.read(headerBuf, 0, headerBuf.length, 0));
            size = (await handle.stat()).size;
          } finally {
            await handle.close();
          }
        } catch {
          summary.fragmentsInvalid++;
          continue;
        }
        const decoded = decodeHeader(headerBuf.subarray(0, got), hash);
        if ('problem' in decoded || decoded.header.poolId !== config.poolId || decoded.header.extentId !== file.extentId || decoded.header.index !== file.index) {
          summary.fragmentsInvalid++;
          continue;
        }
        const h = decoded.header;
        count++;
        summary.fragmentsFound++;
        let found = extents.get(h.extentId);
        if (!found) extents.set(h.extentId, (found = { header: h, fragments: new Map() }));
        // Headers of one extent that disagree: the newest speaks for it (a completed upload's, over a part's left behind).
        else if (h.createdAt > found.header.createdAt) found.header = h;
        if (!found.fragments.has(h.index)) found.fragments.set(h.index, { diskId, checksum: hex64(h.payloadChecksum), bytes: size, payloadLength: h.payloadLength });
      }
      summary.disks.push({ id: diskId, path: diskPath, fragments: count });
    }
    summary.extents = extents.size;

    // Multipart completions whose headers were not all rewritten (assembly-records.ts): each record whose
    // extents are all found, with headers that agree, gives them the object's identity, as the rewrite would have.
    for (const record of assemblyRecordsSync([...disks.values()]).records) {
      const found = record.extents.map((id) => extents.get(id));
      if (!found.every((e) => e !== undefined && e.header.key === record.key && !e.header.pack && (e.header.part || e.header.objectId === record.objectId))) continue;
      const last = found.length - 1;
      found.forEach((e, seq) => {
        e!.header = { ...e!.header, objectId: record.objectId, createdAt: record.createdAt, seq, last: seq === last, objectSize: seq === last ? record.size : null, part: false };
      });
      summary.assembliesApplied++;
    }

    // Packs: each record that checks out is an object version held in that pack.
    const packed = new Map<string, { key: string; createdAt: number; pack: ExtentFound; offset: number; size: number; checksum: bigint }>();
    for (const e of extents.values()) {
      if (!e.header.pack) continue;
      summary.packs++;
      const bytes = await readPack(e, disks, kernels);
      if (!bytes) {
        summary.packsUnreadable.push(e.header.extentId);
        continue;
      }
      for (const r of readRecords(bytes)) {
        if (hash(bytes.subarray(r.dataOffset, r.dataOffset + r.size)) !== r.checksum) continue;
        const seen = packed.get(r.objectId);
        // The same object in two packs (a compaction interrupted after writing its new pack): either copy will do.
        if (!seen) packed.set(r.objectId, { key: r.key, createdAt: r.createdAt, pack: e, offset: r.dataOffset, size: r.size, checksum: r.checksum });
      }
    }

    // Group extents into object versions.
    const objects = new Map<string, { key: string; createdAt: number; bySeq: Map<number, ExtentFound>; lastSeq: number | null }>();
    for (const e of extents.values()) {
      const h = e.header;
      if (h.pack) continue;
      // A part of a multipart upload never completed is not an object (its upload was in the catalogue alone).
      if (h.part) {
        summary.uploadPartExtents++;
        continue;
      }
      let o = objects.get(h.objectId);
      if (!o) objects.set(h.objectId, (o = { key: h.key, createdAt: h.createdAt, bySeq: new Map(), lastSeq: null }));
      o.bySeq.set(h.seq, e);
      if (h.last) o.lastSeq = h.seq;
    }
    const newest = new Map<string, string>();
    const versions = new Map<string, { createdAt: number }>();
    /** Of several versions of a key, the newest wins (the larger id on a tie). */
    const consider = (id: string, o: { key: string; createdAt: number }) => {
      versions.set(id, o);
      const current = newest.get(o.key);
      if (!current) newest.set(o.key, id);
      else {
        summary.olderVersionsIgnored++;
        const other = versions.get(current)!;
        if (o.createdAt > other.createdAt || (o.createdAt === other.createdAt && id > current)) newest.set(o.key, id);
      }
    };
    for (const [id, o] of objects) {
      const complete = o.lastSeq !== null && o.bySeq.size === o.lastSeq + 1;
      if (!complete) {
        summary.objectsIncomplete.push({ key: o.key, objectId: id, extentsFound: o.bySeq.size });
        continue;
      }
      consider(id, o);
    }
    for (const [id, o] of packed) consider(id, o);
    // Deletes on record (tombstones.ts): a key whose newest version is no newer than its last delete stays deleted.
    const deleted = new Map<string, number>();
    for (const diskPath of disks.values()) {
      for (const t of await readTombstones(diskPath)) deleted.set(t.key, Math.max(deleted.get(t.key) ?? -Infinity, t.createdAt));
    }
    for (const [key, id] of [...newest]) {
      const at = deleted.get(key);
      if (at !== undefined && versions.get(id)!.createdAt <= at) {
        newest.delete(key);
        summary.deletedSkipped++;
      }
    }

    const fresh = `${paths.catalog}.recovering`;
    for (const f of [fresh, `${fresh}-wal`, `${fresh}-shm`]) rmSync(f, { force: true });
    const catalog = Catalog.open(fresh, { create: true, poolId: config.poolId });
    try {
      // Headers say where fragments are, not that their payloads are sound: until a scrub has
      // checked them, health says the extents are unverified (see poolHealth).
      catalog.setMeta(META_RECOVERED_AT, new Date().toISOString());
      // The journal of the catalogue being replaced, when it can still be read.
      if (existsSync(paths.catalog)) summary.eventsKept = catalog.importEvents(paths.catalog);
      for (const [diskId, diskPath] of disks) catalog.addDisk(diskId, diskPath, 'healthy');
      const packWinners = new Map<ExtentFound, { objectId: string; key: string }[]>();
      for (const [key, objectId] of newest) {
        const p = packed.get(objectId);
        if (p) {
          if (!packWinners.has(p.pack)) packWinners.set(p.pack, []);
          packWinners.get(p.pack)!.push({ objectId, key });
          continue;
        }
        const o = objects.get(objectId)!;
        const seqs = [...o.bySeq.keys()].sort((a, b) => a - b);
        let size = 0;
        const rows: NewExtent[] = seqs.map((seq) => {
          const e = o.bySeq.get(seq)!;
          const h = e.header;
          size += h.extentSize;
          return {
            id: h.extentId, seq, size: h.extentSize, policy: formatPolicy(h.policy), need: policyNeed(h.policy), width: policyWidth(h.policy),
            fragmentLength: h.payloadLength, payloadOffset: headerLengthFor(Buffer.byteLength(h.key, 'utf8')), checksum: hex64(h.extentChecksum),
            fragments: [...e.fragments].map(([index, f]) => ({ index, diskId: f.diskId, checksum: f.checksum, bytes: f.bytes })),
          };
        });
        const checksum = objectChecksum(seqs.map((s) => o.bySeq.get(s)!.header.extentChecksum), hash);
        const first = o.bySeq.get(0)!.header;
        catalog.commitObject({ id: objectId, key, size, policy: formatPolicy(first.policy), checksum: hex64(checksum), extents: rows.length, createdAt: o.createdAt }, rows);
        // Extents with fragments not found at all are degraded or worse: let the states say so.
        for (const r of rows) if (r.fragments.length < r.width) catalog.recomputeExtent(r.id);
        summary.objectsRecovered++;
      }
      // Each pack that holds a winning version, with those objects; the others' files are left to gc.
      for (const [e, winners] of packWinners) {
        const h = e.header;
        const extent: NewExtent = {
          id: h.extentId, seq: 0, size: h.extentSize, policy: formatPolicy(h.policy), need: policyNeed(h.policy), width: policyWidth(h.policy),
          fragmentLength: h.payloadLength, payloadOffset: headerLengthFor(0), checksum: hex64(h.extentChecksum),
          fragments: [...e.fragments].map(([index, f]) => ({ index, diskId: f.diskId, checksum: f.checksum, bytes: f.bytes })),
        };
        catalog.commitPacked({ packId: h.objectId, extent, createdAt: h.createdAt }, winners.map(({ objectId, key }) => {
          const p = packed.get(objectId)!;
          return {
            object: { id: objectId, key, size: p.size, policy: formatPolicy(h.policy), checksum: hex64(objectChecksum([p.checksum], hash)), extents: 1, createdAt: p.createdAt },
            offset: p.offset, checksum: hex64(p.checksum),
          };
        }));
        if (extent.fragments.length < extent.width) catalog.recomputeExtent(extent.id);
        summary.objectsRecovered += winners.length;
      }
      catalog.checkpointWal();
    } finally {
      catalog.close();
    }
    if (existsSync(paths.catalog)) {
      const backup = `${paths.catalog}.bak-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      for (const suffix of ['', '-wal', '-shm']) if (existsSync(paths.catalog + suffix)) renameSync(paths.catalog + suffix, backup + suffix);
      summary.backup = backup;
    } else {
      for (const suffix of ['-wal', '-shm']) rmSync(paths.catalog + suffix, { force: true });
    }
    renameSync(fresh, paths.catalog);
    for (const suffix of ['-wal', '-shm']) rmSync(fresh + suffix, { force: true });
    fsyncDirectorySync(dirname(paths.catalog));
    config.disks = [...disks].map(([id, path]) => ({ id, path }));
    writePoolConfig(root, config);
    return summary;
  } catch (error) {
    if (error instanceof DfsError) throw error;
    throw new DfsError('DFS_ERR_INTERNAL_UNEXPECTED', `recover-catalog: ${(error as Error).message}`, { cause: error });
  } finally {
    lock.release();
  }
}
