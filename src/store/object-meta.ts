// What every fragment of an object carries about it, and the checks on keys.
import { randomBytes } from 'node:crypto';
import { DfsError } from '../errors.js';
import { MAX_KEY_BYTES } from '../format/index.js';

export function newId(): string {
  return randomBytes(16).toString('hex');
}

/** Keys are data, never paths: any UTF-8 string of 1..1024 bytes without NUL. */
export function checkKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) throw new DfsError('DFS_ERR_OBJECT_KEY_INVALID', 'empty key');
  if (key.includes('\0')) throw new DfsError('DFS_ERR_OBJECT_KEY_INVALID', 'the key contains NUL');
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
