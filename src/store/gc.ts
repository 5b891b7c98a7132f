// Garbage collection: temporary files of interrupted writes, and fragment
// files that no committed extent owns (leftovers of an interrupted put, of an
// overwrite or delete whose file removal failed, of a move). Files older
// than the grace period are taken; younger ones only when they are known to
// belong to a write whose process is gone (a temporary file names its
// writer's pid; a fragment's header names its object, and a killed put left
// a record of its object), so a write in progress is never hit. Before the
// scan, packs of small objects that are mostly dead bytes are compacted
// (packs.ts).
import { open, stat, unlink } from 'node:fs/promises';
import type { Engine } from './engine.js';
import { decodeHeader, MAX_HEADER_BYTES, TEMP_MARKER } from '../format/index.js';
import { reclaimUploads, type UploadReclaim } from './uploads.js';
import { isProcessAlive } from '../pool/index.js';
import { ageSeconds, scanDisk } from './scan.js';
import { compactPacks, type CompactSummary } from './packs.js';

export interface GcSummary {
  dryRun: boolean;
  graceSeconds: number;
  filesScanned: number;
  tempFiles: number;
  orphanFragments: number;
  bytes: number;
  removed: { path: string; kind: 'temp' | 'orphan'; bytes: number }[];
  skippedYoung: number;
  /** Puts whose process was killed: their files were taken whatever their age. */
  interruptedWrites: { key: string; pid: number; startedAt: string }[];
  /** Packs rewritten because most of their bytes were dead (deleted or overwritten objects). */
  compaction: CompactSummary;
  /** S3 multipart uploads older than s3.uploadMaxAgeSeconds, reclaimed with their parts. */
  uploads: UploadReclaim;
  /** Delete records (tombstones.ts) no file can contradict any more, dropped; and those kept (summed over disks). */
  tombstones: { dropped: number; kept: number };
}

/** The pid in a temporary file's name (`.<name>.tmp-<pid>-<n>`), or null. */
function writerPid(name: string): number | null {
  const m = new RegExp(`${TEMP_MARKER.replace('.', '\\.')}(\\d+)-\\d+$`).exec(name);
  return m ? Number(m[1]) : null;
}

/** The object id in a fragment file's header, or null when it cannot be read. */
async function headerObjectId(engine: Engine, path: string): Promise<string | null> {
  let handle;
  try {
    handle = await open(path, 'r');
    const buf = Buffer.alloc(MAX_HEADER_BYTES);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    const decoded = decodeHeader(buf.subarray(0, bytesRead), engine.hash);
    return 'problem' in decoded ? null : decoded.header.objectId;
  } catch {
    return null;
  } finally {
    await handle?.close();
  }
}

export async function collectGarbage(engine: Engine, options: { dryRun?: boolean; graceSeconds?: number } = {}): Promise<GcSummary> {
  const dryRun = options.dryRun ?? false;
  const graceSeconds = options.graceSeconds ?? engine.config.gc.graceSeconds;
  const interrupted = engine.interruptedWrites();
  const deadObjects = new Set(interrupted.map((w) => w.objectId));
  const compaction = await compactPacks(engine, { dryRun });
  const uploads = await reclaimUploads(engine, { dryRun, maxAgeSeconds: engine.config.s3.uploadMaxAgeSeconds });
  const summary: GcSummary = {
    dryRun, graceSeconds, filesScanned: 0, tempFiles: 0, orphanFragments: 0, bytes: 0, removed: [], skippedYoung: 0,
    interruptedWrites: interrupted.map(({ key, pid, startedAt }) => ({ key, pid, startedAt })), compaction, uploads, tombstones: { dropped: 0, kept: 0 },
  };
  for (const disk of engine.catalog.disks()) {
    for await (const file of scanDisk(disk.path)) {
      summary.filesScanned++;
      let kind: 'temp' | 'orphan' | null = null;
      if (file.kind === 'temp') kind = 'temp';
      else if (!engine.catalog.hasFragment(file.extentId!, file.index!, disk.id)) kind = 'orphan';
      if (!kind) continue;
      const age = await ageSeconds(file.path);
      if (age === null) continue;
      if (age < graceSeconds) {
        const pid = kind === 'temp' ? writerPid(file.name) : null;
        const writerGone = kind === 'temp'
          ? pid !== null && pid !== process.pid && !isProcessAlive(pid)
          : deadObjects.size > 0 && deadObjects.has((await headerObjectId(engine, file.path)) ?? '');
        if (!writerGone) {
          summary.skippedYoung++;
          continue;
        }
      }
      let bytes = 0;
      try {
        bytes = (await stat(file.path)).size;
        if (!dryRun) await unlink(file.path);
      } catch {
        continue;
      }
      if (kind === 'temp') summary.tempFiles++;
      else summary.orphanFragments++;
      summary.bytes += bytes;
      summary.removed.push({ path: file.path, kind, bytes });
    }
  }
  if (!dryRun) for (const w of interrupted) engine.forgetInterruptedWrite(w.objectId);
  // Tombstones of deletes older than every pack (no pack can hold the deleted bytes) and than
  // the grace period (orphaned files of that time are gone now, or were just removed above).
  const before = Math.min(engine.catalog.oldestPackAt() ?? Infinity, Date.now() - graceSeconds * 1000);
  summary.tombstones = await engine.tombstones.prune(before, dryRun);
  return summary;
}
