import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createKernels } from '../../src/kernels/public.js';
import {
  decodeHeader, encodeHeader, headerIdBytes, headerLengthFor, headerMatches, MAX_HEADER_BYTES, readRecords, recordBytes, writeRecordHeader, type FragmentHeader,
} from '../../src/format/index.js';

const kernels = await createKernels();
const hash = (b: Uint8Array) => kernels.xxh3(b);

const header: FragmentHeader = {
  poolId: '3a6e112f-1eba-42c2-9a7f-f789c8c8632e', extentId: '24e467ff1e2b7f6dc5d63d16f8dfc26f', objectId: 'f06d62ca71240ad933b1c72fe043a9bb',
  index: 5, policy: { kind: 'ec', k: 4, m: 2 }, extentSize: 1048576, payloadLength: 262144, payloadChecksum: 0x0123456789abcdefn,
  extentChecksum: 0xfedcba9876543210n, objectSize: null, createdAt: 1763970000123, seq: 7, last: false, key: 'photos/2026/ü.jpg', pack: false, part: false,
};

test('a header round-trips every field', () => {
  const bytes = encodeHeader(header, hash);
  assert.is(bytes.length, headerLengthFor(Buffer.byteLength(header.key)));
  assert.is(bytes.length % 16, 0);
  const decoded = decodeHeader(bytes, hash);
  assert.ok('header' in decoded);
  if ('header' in decoded) assert.equal(decoded.header, header);
  const last = decodeHeader(encodeHeader({ ...header, objectSize: 7 * 1048576 + 3, last: true, policy: { kind: 'replication', copies: 3 } }, hash), hash);
  assert.ok('header' in last && last.header.last && last.header.objectSize === 7 * 1048576 + 3 && last.header.policy.kind === 'replication');
  const pack = decodeHeader(encodeHeader({ ...header, key: '', last: true, pack: true }, hash), hash);
  assert.ok('header' in pack && pack.header.pack && pack.header.last && pack.header.key === '');
  const part = decodeHeader(encodeHeader({ ...header, part: true }, hash), hash);
  assert.ok('header' in part && part.header.part && !part.header.pack && part.header.key === header.key);
});

test('pack records round-trip, and the list ends where the records do', () => {
  const records = [
    { objectId: 'aa'.repeat(16), key: 'a/ü', size: 5, createdAt: 1, checksum: 7n, data: Buffer.from('hello') },
    { objectId: 'bb'.repeat(16), key: 'b', size: 0, createdAt: 2, checksum: 8n, data: Buffer.alloc(0) },
    { objectId: 'cc'.repeat(16), key: 'c'.repeat(1024), size: 3, createdAt: 3, checksum: 9n, data: Buffer.from('xyz') },
  ];
  const total = records.reduce((n, r) => n + recordBytes(Buffer.byteLength(r.key), r.size), 0);
  const bytes = new Uint8Array(total + 100); // zero padding after the records, as an extent has
  let at = 0;
  const offsets: number[] = [];
  for (const { data, ...r } of records) {
    const dataAt = writeRecordHeader(bytes, at, r);
    bytes.set(data, dataAt);
    offsets.push(dataAt);
    at = dataAt + data.length;
  }
  const read = [...readRecords(bytes)];
  assert.equal(read, records.map(({ data: _d, ...r }, i) => ({ ...r, dataOffset: offsets[i]! })));
  // A record that claims more bytes than there are ends the list there.
  const cut = [...readRecords(bytes.subarray(0, offsets[2]! + 1))];
  assert.is(cut.length, 2);
  assert.throws(() => writeRecordHeader(bytes, 0, { ...records[0]!, key: 'k'.repeat(1089) }), /key of 1089 bytes/);
});

test('any flipped bit in a header is caught', () => {
  const bytes = encodeHeader(header, hash);
  for (let bit = 0; bit < bytes.length * 8; bit += 7) {
    const damaged = Buffer.from(bytes);
    damaged[bit >> 3]! ^= 1 << (bit & 7);
    assert.ok('problem' in decodeHeader(damaged, hash), `bit ${bit} went unnoticed`);
  }
  assert.equal(decodeHeader(bytes.subarray(0, 50), hash), { problem: 'short' });
});

test('the scrubber\'s quick header check accepts exactly the expected header', () => {
  const bytes = encodeHeader(header, hash);
  const selfHash = (b: Uint8Array) => hash(b.subarray(0, b.length - 8));
  const expected = { ids: headerIdBytes(header.poolId, header.extentId), index: header.index, length: bytes.length, payloadLength: header.payloadLength, payloadChecksum: header.payloadChecksum };
  assert.ok(headerMatches(bytes, expected, selfHash(bytes)));
  // Every field it is asked to match, and the header's own checksum, can say no.
  assert.not.ok(headerMatches(bytes, { ...expected, index: 4 }, selfHash(bytes)));
  assert.not.ok(headerMatches(bytes, { ...expected, payloadLength: 262145 }, selfHash(bytes)));
  assert.not.ok(headerMatches(bytes, { ...expected, payloadChecksum: 1n }, selfHash(bytes)));
  assert.not.ok(headerMatches(bytes, { ...expected, length: bytes.length + 16 }, selfHash(bytes)));
  assert.not.ok(headerMatches(bytes, { ...expected, ids: headerIdBytes(header.poolId, header.objectId) }, selfHash(bytes)));
  assert.not.ok(headerMatches(bytes, expected, selfHash(bytes) ^ 1n));
  // A flipped bit anywhere fails it (the caller hashes the damaged bytes, as the scrubber does).
  for (let bit = 0; bit < bytes.length * 8; bit += 5) {
    const damaged = Buffer.from(bytes);
    damaged[bit >> 3]! ^= 1 << (bit & 7);
    assert.not.ok(headerMatches(damaged, expected, selfHash(damaged)), `bit ${bit} went unnoticed`);
  }
  assert.not.ok(headerMatches(bytes.subarray(0, 100), expected, selfHash(bytes)));
});

test('the longest key fits the header bound', () => {
  const bytes = encodeHeader({ ...header, key: 'k'.repeat(1088) }, hash);
  assert.is(bytes.length, MAX_HEADER_BYTES);
  assert.throws(() => encodeHeader({ ...header, key: 'k'.repeat(1089) }, hash), /DFS_ERR_OBJECT_KEY_INVALID|1089 bytes/);
});

test.run();
