// Multipart uploads' storage: each part is a hidden object of the pool
// (uploadPartKey), recorded in the catalogue's upload tables until the
// upload is completed or aborted. An upload left unfinished is reclaimed by
// gc once it is older than s3.uploadMaxAgeSeconds.
import type { Engine } from './engine.js';
import { UPLOAD_PART_PREFIX, uploadPartKey } from './object-meta.js';
import { deleteObject } from './writer.js';

export interface UploadReclaim {
  maxAgeSeconds: number;
  uploads: number;
  parts: number;
  bytes: number;
}

/** Deletes an upload's parts and forgets it. */
export async function dropUpload(engine: Engine, uploadId: string): Promise<{ parts: number; bytes: number }> {
  let parts = 0;
  let bytes = 0;
  for (const part of engine.catalog.parts(uploadId)) {
    try {
      await deleteObject(engine, uploadPartKey(uploadId, part.part), true);
      parts++;
      bytes += part.size;
    } catch {
      // already gone (an abort racing a complete)
    }
  }
  engine.catalog.dropUpload(uploadId);
  return { parts, bytes };
}

export async function reclaimUploads(engine: Engine, options: { dryRun: boolean; maxAgeSeconds: number; now?: number }): Promise<UploadReclaim> {
  const summary: UploadReclaim = { maxAgeSeconds: options.maxAgeSeconds, uploads: 0, parts: 0, bytes: 0 };
  const before = (options.now ?? Date.now()) - options.maxAgeSeconds * 1000;
  for (;;) {
    const stale = engine.catalog.staleUploads(before, 100);
    for (const upload of stale) {
      summary.uploads++;
      if (options.dryRun) {
        for (const part of engine.catalog.parts(upload.id)) {
          summary.parts++;
          summary.bytes += part.size;
        }
        continue;
      }
      const dropped = await dropUpload(engine, upload.id);
      summary.parts += dropped.parts;
      summary.bytes += dropped.bytes;
    }
    if (stale.length < 100 || options.dryRun) break;
  }
  // Parts whose upload is gone: a part committed while its upload was being dropped (its object and
  // row go in one transaction, which checks that the upload is there, but dropUpload lists the parts
  // before it drops the rows), or one stored by an older version that recorded the row after the part.
  const prefix = UPLOAD_PART_PREFIX;
  let after = '';
  for (;;) {
    const rows = engine.catalog.listWithMeta(prefix, after, 1000);
    for (const row of rows) {
      after = row.key;
      const uploadId = row.key.slice(prefix.length).split('/')[0]!;
      if (row.createdAt >= before || engine.catalog.upload(uploadId)) continue;
      summary.parts++;
      summary.bytes += row.size;
      if (!options.dryRun) await deleteObject(engine, row.key, true).catch(() => {});
    }
    if (rows.length < 1000) return summary;
  }
}
