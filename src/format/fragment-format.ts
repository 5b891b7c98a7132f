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
//   108     2  flags (bit 0: last extent of the object)
//   110     2  key length in bytes (UTF-8, ≤ 1024)
//   112     n  key
//     …        zero padding
//   H-8     8  XXH3-64 of bytes 0..H-8 (the header checksum)
import { DfsError } from '../errors.js';
import type { Policy } from '../pool/index.js';

export const FRAGMENT_MAGIC = Buffer.from('DFSFRAG1', 'latin1');
export const FRAGMENT_FORMAT = 1;
const FIXED = 112;
export const MAX_KEY_BYTES = 1024;
export const MAX_HEADER_BYTES = ((FIXED + MAX_KEY_BYTES + 8 + 15) & ~15) >>> 0;
export const UNKNOWN_SIZE = 0xffff_ffff_ffff_ffffn;
export const FLAG_LAST = 1;

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
  return ((FIXED + keyBytes + 8 + 15) & ~15) >>> 0;
}

export function encodeHeader(h: FragmentHeader, hash: Hasher): Buffer {
  const key = Buffer.from(h.key, 'utf8');
  if (key.length > MAX_KEY_BYTES) throw new DfsError('DFS_ERR_OBJECT_KEY_INVALID', `key of ${key.length} bytes`);
  const length = headerLengthFor(key.length);
  const b = Buffer.alloc(length);
  FRAGMENT_MAGIC.copy(b, 0);
  b.writeUInt16LE(FRAGMENT_FORMAT, 8);
  b.writeUInt16LE(length, 10);
  if (h.policy.kind === 'replication') {
    b.writeUInt8(1, 12);
    b.writeUInt8(h.policy.copies, 13);
  } else {
    b.writeUInt8(2, 12);
    b.writeUInt8(h.policy.k, 13);
    b.writeUInt8(h.policy.m, 14);
  }
  b.writeUInt8(h.index, 15);
  idBytes(h.poolId, 'pool id').copy(b, 16);
  idBytes(h.extentId, 'extent id').copy(b, 32);
  idBytes(h.objectId, 'object id').copy(b, 48);
  b.writeUInt32LE(h.extentSize, 64);
  b.writeUInt32LE(h.payloadLength, 68);
  b.writeBigUInt64LE(h.payloadChecksum, 72);
  b.writeBigUInt64LE(h.extentChecksum, 80);
  b.writeBigUInt64LE(h.objectSize === null ? UNKNOWN_SIZE : BigInt(h.objectSize), 88);
  b.writeBigUInt64LE(BigInt(h.createdAt), 96);
  b.writeUInt32LE(h.seq, 104);
  b.writeUInt16LE(h.last ? FLAG_LAST : 0, 108);
  b.writeUInt16LE(key.length, 110);
  key.copy(b, FIXED);
  b.writeBigUInt64LE(hash(b.subarray(0, length - 8)), length - 8);
  return b;
}

export type HeaderProblem = 'short' | 'magic' | 'version' | 'length' | 'checksum' | 'policy';

/** Parses a header from the first bytes of a fragment file; a problem is returned, not thrown. */
export function decodeHeader(bytes: Uint8Array, hash: Hasher): { header: FragmentHeader; length: number } | { problem: HeaderProblem } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < FIXED + 8) return { problem: 'short' };
  if (!b.subarray(0, 8).equals(FRAGMENT_MAGIC)) return { problem: 'magic' };
  if (b.readUInt16LE(8) !== FRAGMENT_FORMAT) return { problem: 'version' };
  const length = b.readUInt16LE(10);
  const keyLength = b.readUInt16LE(110);
  if (keyLength > MAX_KEY_BYTES || length !== headerLengthFor(keyLength)) return { problem: 'length' };
  if (b.length < length) return { problem: 'short' };
  if (b.readBigUInt64LE(length - 8) !== hash(b.subarray(0, length - 8))) return { problem: 'checksum' };
  const kind = b.readUInt8(12);
  let policy: Policy;
  if (kind === 1) policy = { kind: 'replication', copies: b.readUInt8(13) };
  else if (kind === 2) policy = { kind: 'ec', k: b.readUInt8(13), m: b.readUInt8(14) };
  else return { problem: 'policy' };
  const objectSize = b.readBigUInt64LE(88);
  return {
    length,
    header: {
      poolId: uuidFrom(b.subarray(16, 32)),
      extentId: b.subarray(32, 48).toString('hex'),
      objectId: b.subarray(48, 64).toString('hex'),
      index: b.readUInt8(15),
      policy,
      extentSize: b.readUInt32LE(64),
      payloadLength: b.readUInt32LE(68),
      payloadChecksum: b.readBigUInt64LE(72),
      extentChecksum: b.readBigUInt64LE(80),
      objectSize: objectSize === UNKNOWN_SIZE ? null : Number(objectSize),
      createdAt: Number(b.readBigUInt64LE(96)),
      seq: b.readUInt32LE(104),
      last: (b.readUInt16LE(108) & FLAG_LAST) !== 0,
      key: b.subarray(FIXED, FIXED + keyLength).toString('utf8'),
    },
  };
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
  if (b.length < length || length < FIXED + 8) return false;
  for (let i = 0; i < 8; i++) if (b[i] !== FRAGMENT_MAGIC[i]) return false;
  const view = new DataView(b.buffer, b.byteOffset, length);
  if (view.getUint16(8, true) !== FRAGMENT_FORMAT || view.getUint16(10, true) !== length) return false;
  if (headerLengthFor(view.getUint16(110, true)) !== length) return false;
  const kind = b[12];
  if ((kind !== 1 && kind !== 2) || b[15] !== expected.index) return false;
  for (let i = 0; i < 32; i++) if (b[16 + i] !== expected.ids[i]) return false;
  return view.getUint32(68, true) === expected.payloadLength && view.getBigUint64(72, true) === expected.payloadChecksum
    && view.getBigUint64(length - 8, true) === headerHash;
}
