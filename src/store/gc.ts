// Garbage collection: temporary files of interrupted writes, and fragment
// files that no committed extent owns (leftovers of an interrupted put, of an
// overwrite or delete whose file removal failed, of a move). Only files older
// than the grace period are touched, so a write in progress is never hit.
import { stat, unlink } from 'node:fs/promises';
import type { Engine } from './engine.js';
import { ageSeconds, scanDisk } from './scan.js';

export interface GcSummary {
  dryRun: boolean;
  graceSeconds: number;
  filesScanned: number;
  tempFiles: number;
  orphanFragments: number;
  bytes: number;
  removed: { path: string; kind: 'temp' | 'orphan'; bytes: number }[];
  skippedYoung: number;
}

export async function collectGarbage(engine: Engine, options: { dryRun?: boolean; graceSeconds?: number } = {}): Promise<GcSummary> {
  const dryRun = options.dryRun ?? false;
  const graceSeconds = options.graceSeconds ?? engine.config.gc.graceSeconds;
  const summary: GcSummary = { dryRun, graceSeconds, filesScanned: 0, tempFiles: 0, orphanFragments: 0, bytes: 0, removed: [], skippedYoung: 0 };
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
        summary.skippedYoung++;
        continue;
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
  return summary;
}
