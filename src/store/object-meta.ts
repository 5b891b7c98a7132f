// What every fragment of an object carries about it, and the checks on keys.
import { randomBytes } from 'node:crypto';
import { DfsError } from '../errors.js';
import { MAX_KEY_BYTES } from '../format/index.js';

export function newId(): string {
  return randomBytes(16).toString('hex');
}

/**
 * Keys the pool keeps for itself (the parts of S3 multipart uploads) start
 * with NUL, which no client key can contain: listings never show them.
 */
export const INTERNAL_KEY_PREFIX = '\0';

/** Where the parts of multipart uploads are kept: `<prefix><uploadId>/<part>`. */
export const UPLOAD_PART_PREFIX = `${INTERNAL_KEY_PREFIX}upload/`;

/** The key of part `part` of multipart upload `uploadId`. */
export function uploadPartKey(uploadId: string, part: number): string {
  return `${UPLOAD_PART_PREFIX}${uploadId}/${part}`;
}

/** The upload a part's key belongs to, or null for a key that is not a part's. */
export function uploadIdOfPart(key: string): string | null {
  if (!key.startsWith(UPLOAD_PART_PREFIX)) return null;
  const rest = key.slice(UPLOAD_PART_PREFIX.length);
  const slash = rest.indexOf('/');
  return slash > 0 ? rest.slice(0, slash) : null;
}

/** The pool's key of an object of an S3 bucket ("<bucket>/<key>"): where a completed upload goes. */
export function bucketObjectKey(bucket: string, key: string): string {
  return `${bucket}/${key}`;
}

/**
 * Keys are data, never paths: any UTF-8 string of 1..MAX_KEY_BYTES bytes
 * without NUL (`internal`: a key of the pool's own, which starts with NUL).
 */
export function checkKey(key: unknown, internal = false): string {
  if (typeof key !== 'string' || key.length === 0) throw new DfsError('DFS_ERR_OBJECT_KEY_INVALID', 'empty key');
  if (key.lastIndexOf('\0') > (internal && key.startsWith(INTERNAL_KEY_PREFIX) ? 0 : -1)) throw new DfsError('DFS_ERR_OBJECT_KEY_INVALID', 'the key contains NUL');
  const bytes = Buffer.from(key, 'utf8');
  if (bytes.toString('utf8') !== key) throw new DfsError('DFS_ERR_OBJECT_KEY_INVALID', 'the key is not valid UTF-8');
  if (bytes.length > MAX_KEY_BYTES) throw new DfsError('DFS_ERR_OBJECT_KEY_INVALID', `${bytes.length} bytes`);
  return key;
}

/**
 * The object checksum: XXH3-64 over the extents' XXH3-64 values, each as 8
 * little-endian bytes, in order. Computable while streaming and, in recovery,
 * from fragment headers alone.
 */
export function objectChecksum(extentChecksums: readonly bigint[], hash: (bytes: Uint8Array) => bigint): bigint {
  const buf = Buffer.alloc(extentChecksums.length * 8);
  extentChecksums.forEach((c, i) => buf.writeBigUInt64LE(c, i * 8));
  return hash(buf);
}
