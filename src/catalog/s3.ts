// The S3 listener's tables: buckets, multipart uploads and their parts.
// A bucket is a name; its objects are the pool's keys under "<bucket>/". An
// upload's parts are hidden objects of the pool (keys under
// INTERNAL_KEY_PREFIX, see src/store/object-meta.ts) until the upload is
// completed or aborted; `upload_parts` holds what ListParts and Complete need.
import type Database from 'better-sqlite3';
import { ObjectTable } from './objects.js';

export interface BucketRow {
  name: string;
  createdAt: number;
}

export interface UploadRow {
  id: string;
  bucket: string;
  key: string;
  /** The object's attributes to be (content type, user metadata), as a JSON text. */
  meta: string;
  createdAt: number;
}

export interface PartRow {
  part: number;
  size: number;
  etag: string;
  checksums: string | null;
  uploadedAt: number;
}

const UPLOAD_COLUMNS = 'id, bucket, key, meta, created_at AS createdAt';
const PART_COLUMNS = 'part, size, etag, checksums, uploaded_at AS uploadedAt';

export class S3Table extends ObjectTable {
  private readonly s3Sql;

  protected constructor(db: Database.Database) {
    super(db);
    const p = (sql: string) => db.prepare(sql);
    this.s3Sql = {
      buckets: p('SELECT name, created_at AS createdAt FROM buckets ORDER BY name'),
      bucket: p('SELECT name, created_at AS createdAt FROM buckets WHERE name = ?'),
      createBucket: p('INSERT INTO buckets (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING'),
      deleteBucket: p('DELETE FROM buckets WHERE name = ?'),
      createUpload: p('INSERT INTO uploads (id, bucket, key, meta, created_at) VALUES (@id, @bucket, @key, @meta, @createdAt)'),
      upload: p(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE id = ?`),
      uploads: p(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? AND (key > ? OR (key = ? AND id > ?)) ORDER BY key, id LIMIT ?`),
      uploadsOfBucket: p(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE bucket = ?`),
      staleUploads: p(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE created_at < ? ORDER BY created_at LIMIT ?`),
      deleteUpload: p('DELETE FROM uploads WHERE id = ?'),
      putPart: p(`INSERT OR REPLACE INTO upload_parts (upload_id, part, size, etag, checksums, uploaded_at)
        VALUES (@uploadId, @part, @size, @etag, @checksums, @uploadedAt)`),
      parts: p(`SELECT ${PART_COLUMNS} FROM upload_parts WHERE upload_id = ? AND part > ? ORDER BY part LIMIT ?`),
      deleteParts: p('DELETE FROM upload_parts WHERE upload_id = ?'),
    };
  }

  buckets(): BucketRow[] {
    return this.s3Sql.buckets.all() as BucketRow[];
  }

  bucket(name: string): BucketRow | null {
    return (this.s3Sql.bucket.get(name) as BucketRow | undefined) ?? null;
  }

  /** Creates a bucket; false if it existed. */
  createBucket(name: string, createdAt: number): boolean {
    return this.s3Sql.createBucket.run(name, createdAt).changes === 1;
  }

  deleteBucket(name: string): boolean {
    return this.s3Sql.deleteBucket.run(name).changes === 1;
  }

  createUpload(upload: UploadRow): void {
    this.s3Sql.createUpload.run(upload);
  }

  upload(id: string): UploadRow | null {
    return (this.s3Sql.upload.get(id) as UploadRow | undefined) ?? null;
  }

  /** A bucket's uploads in (key, id) order after the given marker. */
  uploads(bucket: string, after: { key: string; id: string }, limit: number): UploadRow[] {
    return this.s3Sql.uploads.all(bucket, after.key, after.key, after.id, limit) as UploadRow[];
  }

  uploadsOfBucket(bucket: string): UploadRow[] {
    return this.s3Sql.uploadsOfBucket.all(bucket) as UploadRow[];
  }

  /** Uploads begun before `before` (ms), oldest first. */
  staleUploads(before: number, limit: number): UploadRow[] {
    return this.s3Sql.staleUploads.all(before, limit) as UploadRow[];
  }

  /** Records a part (replacing one of the same number). */
  putPart(uploadId: string, part: Omit<PartRow, 'checksums'> & { checksums: string | null }): void {
    this.s3Sql.putPart.run({ uploadId, ...part });
  }

  parts(uploadId: string, after = 0, limit = 10_000): PartRow[] {
    return this.s3Sql.parts.all(uploadId, after, limit) as PartRow[];
  }

  /** Forgets an upload and its parts' rows (the parts' objects are the caller's to delete). */
  dropUpload(id: string): void {
    this.transaction(() => {
      this.s3Sql.deleteParts.run(id);
      this.s3Sql.deleteUpload.run(id);
    });
  }
}
