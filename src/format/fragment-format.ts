// The fragment file format. Every fragment file is a self-describing header
// followed by the payload. The header alone lets `recover-catalog` rebuild the
// catalogue: it names the pool, the extent, the object and its key, and the
// checksums. All integers little-endian.
//
//   off  size  field
//     0     8  magic "DFSFRAG1"
//     8     2  format version (1)
//    10     2  header length H (a multiple of 16; the payload starts at H)
//    12     1  policy kind (1 replication, 2 ec)
//    13     1  copies (replication) or K (ec)
//    14     1  M (ec) or 0
//    15     1  fragment index
//    16    16  pool id (UUID bytes)
//    32    16  extent id
//    48    16  object id
//    64     4  extent size (bytes of object data in this extent)
//    68     4  payload length
//    72     8  XXH3-64 of the payload
//    80     8  XXH3-64 of the extent's bytes
//    88     8  object size, or 2^64-1 when not yet known (every extent but the last of a streamed put)
//    96     8  object creation time, ms since the epoch (newest wins in recovery)
//   104     4  extent sequence number within the object
//   108     2  flags (bit 0: last extent of the object; bit 1: a pack of small
//              objects, whose bytes are records (pack-format.ts); its key is empty;
//              bit 2: a part of a multipart upload not yet completed, under the key
//              of the object it will be part of: not an object by itself, recovery
//              skips it; the completion rewrites the header in place as the
//              object's, at the same length, since the key is the same)
//   110     2  key length in bytes (UTF-8, ≤ 1024)
//   112     n  key
//     …        zero padding
//   H-8     8  XXH3-64 of bytes 0..H-8 (the header checksum)
import { DfsError } from '../errors.js';
import type { Policy } from '../pool/index.js';

export const FRAGMENT_MAGIC = Buffer.from('DFSFRAG1', 'latin1');
export const FRAGMENT_FORMAT = 1;

/** Where each field of the table above starts: the one place the offsets are written. */
export const HEADER_AT = {
  magic: 0, version: 8, headerLength: 10, kind: 12, copiesOrK: 13, m: 14, index: 15,
  poolId: 16, extentId: 32, objectId: 48, extentSize: 64, payloadLength: 68, payloadChecksum: 72, extentChecksum: 80,
  objectSize: 88, createdAt: 96, seq: 104, flags: 108, keyLength: 110, key: 112,
} as const;
const FIXED = HEADER_AT.key;
/** The header checksum: the last 8 bytes of the header, over every byte before them. */
const CHECKSUM_BYTES = 8;
/** 1,088: an S3 key of 1,024 bytes under a bucket name of 63 and its slash. */
export const MAX_KEY_BYTES = 1088;
export const MAX_HEADER_BYTES = ((FIXED + MAX_KEY_BYTES + CHECKSUM_BYTES + 15) & ~15) >>> 0;

/** How many bytes of a header of `length` its own checksum covers (and where that checksum starts). */
export function headerHashedBytes(length: number): number {
  return length - CHECKSUM_BYTES;
}
export const UNKNOWN_SIZE = 0xffff_ffff_ffff_ffffn;
export const FLAG_LAST = 1;
export const FLAG_PACK = 2;
export const FLAG_PART = 4;

export interface FragmentHeader {
  poolId: string;
  extentId: string;
  objectId: string;
  index: number;
  policy: Policy;
  extentSize: number;
  payloadLength: number;
  payloadChecksum: bigint;
  extentChecksum: bigint;
  /** null while unknown */
  objectSize: number | null;
  createdAt: number;
  seq: number;
  last: boolean;
  key: string;
  /** A pack of small objects (its object id is the pack's own id). */
  pack?: boolean;
  /** A part of a multipart upload not yet completed (see FLAG_PART). */
  part?: boolean;
}

export type Hasher = (bytes: Uint8Array) => bigint;

function idBytes(id: string, what: string): Buffer {
  const hex = id.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new DfsError('DFS_ERR_INTERNAL_UNEXPECTED', `${what} ${id} is not 128 bits of hex`);
  return Buffer.from(hex, 'hex');
}

function uuidFrom(bytes: Buffer): string {
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function headerLengthFor(keyBytes: number): number {
  return ((FIXED + keyBytes + CHECKSUM_BYTES + 15) & ~15) >>> 0;
}

const KIND = { replication: 1, ec: 2 } as const;

export function encodeHeader(h: FragmentHeader, hash: Hasher): Buffer {
  const key = Buffer.from(h.key, 'utf8');
  if (key.length > MAX_KEY_BYTES) throw new DfsError('DFS_ERR_OBJECT_KEY_INVALID', `key of ${key.length} bytes`);
  const length = headerLengthFor(key.length);
  const b = Buffer.alloc(length);
  const at = HEADER_AT;
  FRAGMENT_MAGIC.copy(b, at.magic);
  b.writeUInt16LE(FRAGMENT_FORMAT, at.version);
  b.writeUInt16LE(length, at.headerLength);
  b.writeUInt8(KIND[h.policy.kind], at.kind);
  b.writeUInt8(h.policy.kind === 'replication' ? h.policy.copies : h.policy.k, at.copiesOrK);
  b.writeUInt8(h.policy.kind === 'ec' ? h.policy.m : 0, at.m);
  b.writeUInt8(h.index, at.index);
  idBytes(h.poolId, 'pool id').copy(b, at.poolId);
  idBytes(h.extentId, 'extent id').copy(b, at.extentId);
  idBytes(h.objectId, 'object id').copy(b, at.objectId);
  b.writeUInt32LE(h.extentSize, at.extentSize);
  b.writeUInt32LE(h.payloadLength, at.payloadLength);
  b.writeBigUInt64LE(h.payloadChecksum, at.payloadChecksum);
  b.writeBigUInt64LE(h.extentChecksum, at.extentChecksum);
  b.writeBigUInt64LE(h.objectSize === null ? UNKNOWN_SIZE : BigInt(h.objectSize), at.objectSize);
  b.writeBigUInt64LE(BigInt(h.createdAt), at.createdAt);
  b.writeUInt32LE(h.seq, at.seq);
  b.writeUInt16LE((h.last ? FLAG_LAST : 0) | (h.pack ? FLAG_PACK : 0) | (h.part ? FLAG_PART : 0), at.flags);
  b.writeUInt16LE(key.length, at.keyLength);
  key.copy(b, at.key);
  const hashed = headerHashedBytes(length);
  b.writeBigUInt64LE(hash(b.subarray(0, hashed)), hashed);
  return b;
}

export type HeaderProblem = 'short' | 'magic' | 'version' | 'length' | 'checksum' | 'policy';

/** Parses a header from the first bytes of a fragment file; a problem is returned, not thrown. */
export function decodeHeader(bytes: Uint8Array, hash: Hasher): { header: FragmentHeader; length: number } | { problem: HeaderProblem } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = HEADER_AT;
  if (b.length < FIXED + CHECKSUM_BYTES) return { problem: 'short' };
  if (!b.subarray(at.magic, at.magic + FRAGMENT_MAGIC.length).equals(FRAGMENT_MAGIC)) return { problem: 'magic' };
  if (b.readUInt16LE(at.version) !== FRAGMENT_FORMAT) return { problem: 'version' };
  const length = b.readUInt16LE(at.headerLength);
  const keyLength = b.readUInt16LE(at.keyLength);
  if (keyLength > MAX_KEY_BYTES || length !== headerLengthFor(keyLength)) return { problem: 'length' };
  if (b.length < length) return { problem: 'short' };
  const hashed = headerHashedBytes(length);
  if (b.readBigUInt64LE(hashed) !== hash(b.subarray(0, hashed))) return { problem: 'checksum' };
  const kind = b.readUInt8(at.kind);
  let policy: Policy;
  if (kind === KIND.replication) policy = { kind: 'replication', copies: b.readUInt8(at.copiesOrK) };
  else if (kind === KIND.ec) policy = { kind: 'ec', k: b.readUInt8(at.copiesOrK), m: b.readUInt8(at.m) };
  else return { problem: 'policy' };
  const objectSize = b.readBigUInt64LE(at.objectSize);
  return {
    length,
    header: {
      poolId: uuidFrom(b.subarray(at.poolId, at.poolId + 16)),
      extentId: b.subarray(at.extentId, at.extentId + 16).toString('hex'),
      objectId: b.subarray(at.objectId, at.objectId + 16).toString('hex'),
      index: b.readUInt8(at.index),
      policy,
      extentSize: b.readUInt32LE(at.extentSize),
      payloadLength: b.readUInt32LE(at.payloadLength),
      payloadChecksum: b.readBigUInt64LE(at.payloadChecksum),
      extentChecksum: b.readBigUInt64LE(at.extentChecksum),
      objectSize: objectSize === UNKNOWN_SIZE ? null : Number(objectSize),
      createdAt: Number(b.readBigUInt64LE(at.createdAt)),
      seq: b.readUInt32LE(at.seq),
      last: (b.readUInt16LE(at.flags) & FLAG_LAST) !== 0,
      pack: (b.readUInt16LE(at.flags) & FLAG_PACK) !== 0,
      part: (b.readUInt16LE(at.flags) & FLAG_PART) !== 0,
      key: b.subarray(at.key, at.key + keyLength).toString('utf8'),
    },
  };
}

/** The header of one fragment of an extent, from a file's first `length` bytes (the extent's payload offset); null when it is damaged or describes another fragment. */
export function fragmentHeaderOf(bytes: Uint8Array, hash: Hasher, expected: { extentId: string; index: number; length: number }): FragmentHeader | null {
  if (bytes.length < expected.length) return null;
  const decoded = decodeHeader(bytes.subarray(0, expected.length), hash);
  if ('problem' in decoded || decoded.length !== expected.length || decoded.header.extentId !== expected.extentId || decoded.header.index !== expected.index) return null;
  return decoded.header;
}

export function hex64(value: bigint): string {
  return value.toString(16).padStart(16, '0');
}

export function parseHex64(text: string): bigint {
  return BigInt(`0x${text}`);
}

/** What a scrub expects of one fragment's header (see headerMatches). */
export interface ExpectedHeader {
  /** Pool id and extent id as their 32 header bytes (16..48). */
  ids: Uint8Array;
  index: number;
  length: number;
  payloadLength: number;
  payloadChecksum: bigint;
}

/** The pool and extent ids of a header as the bytes stored at 16..48. */
export function headerIdBytes(poolId: string, extentId: string): Uint8Array {
  return Buffer.concat([idBytes(poolId, 'pool id'), idBytes(extentId, 'extent id')]);
}

/**
 * The scrubber's common case without decoding: true when `b` is a well-formed
 * header of exactly the expected fragment (magic, version, lengths, policy
 * kind, ids, index, payload length and checksum) whose own checksum is
 * `headerHash` (XXH3-64 of its first length-8 bytes, computed by the caller
 * where the bytes lie). False says nothing more: decodeHeader then tells what
 * is wrong.
 */
export function headerMatches(b: Uint8Array, expected: ExpectedHeader, headerHash: bigint): boolean {
  const length = expected.length;
  const at = HEADER_AT;
  if (b.length < length || length < FIXED + CHECKSUM_BYTES) return false;
  for (let i = 0; i < FRAGMENT_MAGIC.length; i++) if (b[at.magic + i] !== FRAGMENT_MAGIC[i]) return false;
  const view = new DataView(b.buffer, b.byteOffset, length);
  if (view.getUint16(at.version, true) !== FRAGMENT_FORMAT || view.getUint16(at.headerLength, true) !== length) return false;
  if (headerLengthFor(view.getUint16(at.keyLength, true)) !== length) return false;
  const kind = b[at.kind];
  if ((kind !== KIND.replication && kind !== KIND.ec) || b[at.index] !== expected.index) return false;
  // Pool id and extent id lie side by side (16..48): one comparison of 32 bytes.
  for (let i = 0; i < 32; i++) if (b[at.poolId + i] !== expected.ids[i]) return false;
  return view.getUint32(at.payloadLength, true) === expected.payloadLength && view.getBigUint64(at.payloadChecksum, true) === expected.payloadChecksum
    && view.getBigUint64(headerHashedBytes(length), true) === headerHash;
}
