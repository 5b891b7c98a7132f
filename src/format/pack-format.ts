// The bytes of a pack: the extent that holds many small objects. A pack is an
// extent like any other (fragments with headers, checksums, scrubbed and
// repaired as a whole); its bytes are a sequence of records, one per object,
// each saying what it holds, so that recover-catalog can rebuild the
// catalogue's rows for packed objects from the pack alone. All integers
// little-endian.
//
//   off  size  field
//     0     4  magic "DFSO"
//     4     2  key length in bytes (UTF-8, ≤ 1024)
//     6     2  flags (0)
//     8    16  object id
//    24     8  object size (bytes of data)
//    32     8  creation time, ms since the epoch (newest wins in recovery)
//    40     8  XXH3-64 of the data
//    48     n  key
//  48+n  size  data
//
// Records follow each other without padding; the extent's zero padding (if
// any) ends the list. The catalogue keeps each object's offset, length and
// checksum, so a read goes straight to its bytes and checks them.
import { DfsError } from '../errors.js';
import { MAX_KEY_BYTES } from './fragment-format.js';

export const RECORD_MAGIC = Buffer.from('DFSO', 'latin1');
export const RECORD_FIXED = 48;

export interface PackRecord {
  objectId: string;
  key: string;
  size: number;
  createdAt: number;
  checksum: bigint;
}

/** Bytes a record takes in a pack: its header, key and data. */
export function recordBytes(keyBytes: number, size: number): number {
  return RECORD_FIXED + keyBytes + size;
}

/** Writes a record's header and key at `at` (its data goes right after: the returned offset). */
export function writeRecordHeader(into: Uint8Array, at: number, r: PackRecord): number {
  const b = Buffer.from(into.buffer, into.byteOffset, into.byteLength);
  const key = Buffer.from(r.key, 'utf8');
  if (key.length > MAX_KEY_BYTES) throw new DfsError('DFS_ERR_OBJECT_KEY_INVALID', `key of ${key.length} bytes`);
  if (!/^[0-9a-f]{32}$/.test(r.objectId)) throw new DfsError('DFS_ERR_INTERNAL_UNEXPECTED', `object id ${r.objectId} is not 128 bits of hex`);
  RECORD_MAGIC.copy(b, at);
  b.writeUInt16LE(key.length, at + 4);
  b.writeUInt16LE(0, at + 6);
  b.write(r.objectId, at + 8, 16, 'hex');
  b.writeBigUInt64LE(BigInt(r.size), at + 24);
  b.writeBigUInt64LE(BigInt(r.createdAt), at + 32);
  b.writeBigUInt64LE(r.checksum, at + 40);
  key.copy(b, at + RECORD_FIXED);
  return at + RECORD_FIXED + key.length;
}

/**
 * The records of a pack's bytes, in order, with where each one's data lies.
 * Stops at the first place that is not a record (the padding, or damage:
 * each record's data is checked against its checksum by the caller).
 */
export function* readRecords(bytes: Uint8Array): Generator<PackRecord & { dataOffset: number }> {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at + RECORD_FIXED <= b.length && b.subarray(at, at + 4).equals(RECORD_MAGIC)) {
    const keyLength = b.readUInt16LE(at + 4);
    const size = Number(b.readBigUInt64LE(at + 24));
    const dataOffset = at + RECORD_FIXED + keyLength;
    if (keyLength > MAX_KEY_BYTES || !Number.isSafeInteger(size) || dataOffset + size > b.length) return;
    yield {
      objectId: b.subarray(at + 8, at + 24).toString('hex'),
      key: b.subarray(at + RECORD_FIXED, dataOffset).toString('utf8'),
      size,
      createdAt: Number(b.readBigUInt64LE(at + 32)),
      checksum: b.readBigUInt64LE(at + 40),
      dataOffset,
    };
    at = dataOffset + size;
  }
}
