// A request body as the bytes of the object: aws-chunked streaming uploads
// decoded (every chunk signature checked, and the trailer's), a signed
// payload hash checked, the body's digests computed on the way, and its
// length held to what was announced and to the largest size allowed.
// Nothing here decides whether the object is stored: a failure throws from
// the iteration (the put then stores nothing), and the digests are compared
// by the caller before the commit.
import type { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { s3Error } from './errors.js';
import { BodyDigests, checksumAlgorithm, OFFLOAD_BYTES, type ChecksumAlgorithm } from './checksums.js';
import { chunkSignature, sameSignature, trailerSignature, UNSIGNED, type Verified } from './sigv4.js';

const MAX_CHUNK_LINE = 4096;

/** How the body is framed and signed, from x-amz-content-sha256. */
type Framing = { kind: 'plain'; sha256: string | null } | { kind: 'chunked'; signed: boolean; trailer: boolean };

function framingOf(payloadHash: string): Framing {
  switch (payloadHash) {
    case UNSIGNED: return { kind: 'plain', sha256: null };
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD': return { kind: 'chunked', signed: true, trailer: false };
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER': return { kind: 'chunked', signed: true, trailer: true };
    case 'STREAMING-UNSIGNED-PAYLOAD-TRAILER': return { kind: 'chunked', signed: false, trailer: true };
    default:
      if (/^[0-9a-f]{64}$/.test(payloadHash)) return { kind: 'plain', sha256: payloadHash };
      throw s3Error('InvalidArgument', `x-amz-content-sha256 "${payloadHash.slice(0, 80)}" is not a SHA-256 digest or a known streaming mode`);
  }
}

export interface Body {
  /** The object's bytes. */
  chunks: AsyncGenerator<Buffer>;
  /** The object's length when known before reading (Content-Length, or x-amz-decoded-content-length). */
  length: number | null;
  digests: BodyDigests;
  /** Checksums the client gave (headers, or the trailer once the body has ended), by algorithm, in base64. */
  expected: Map<ChecksumAlgorithm, string>;
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The body of `req` as object bytes. `maxBytes` bounds it (EntityTooLarge);
 * a body shorter than announced is IncompleteBody. With `offload`, a large
 * body's native digests are left to the digest thread, which the caller feeds
 * (BodyDigests.feed) with the same bytes in order.
 */
export function requestBody(req: IncomingMessage, verified: Verified, maxBytes: number, options: { offload?: boolean } = {}): Body {
  const framing = framingOf(verified.payloadHash);
  const contentLength = headerOf(req, 'content-length');
  const wireLength = contentLength === undefined ? null : Number(contentLength);
  if (wireLength !== null && !(Number.isSafeInteger(wireLength) && wireLength >= 0)) throw s3Error('InvalidArgument', 'Content-Length is not a number of bytes');
  let length: number | null = wireLength;
  if (framing.kind === 'chunked') {
    const decoded = headerOf(req, 'x-amz-decoded-content-length');
    length = decoded === undefined ? null : Number(decoded);
    if (length !== null && !(Number.isSafeInteger(length) && length >= 0)) throw s3Error('InvalidArgument', 'x-amz-decoded-content-length is not a number of bytes');
  }
  if (length === null && headerOf(req, 'transfer-encoding') === undefined && framing.kind === 'plain') length = 0;
  if (length !== null && length > maxBytes) throw s3Error('EntityTooLarge', undefined, { ProposedSize: String(length), MaxSizeAllowed: String(maxBytes) });

  const expected = new Map<ChecksumAlgorithm, string>();
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith('x-amz-checksum-') && name !== 'x-amz-checksum-type' && name !== 'x-amz-checksum-algorithm' && typeof value === 'string') {
      expected.set(checksumAlgorithm(name.slice('x-amz-checksum-'.length)), value);
    }
  }
  const trailerNames = (headerOf(req, 'x-amz-trailer') ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const algorithms = new Set<ChecksumAlgorithm>(expected.keys());
  for (const name of trailerNames) {
    if (!name.startsWith('x-amz-checksum-')) throw s3Error('InvalidRequest', `trailer ${name.slice(0, 40)} is not supported`);
    algorithms.add(checksumAlgorithm(name.slice('x-amz-checksum-'.length)));
  }
  const sdkAlgorithm = headerOf(req, 'x-amz-sdk-checksum-algorithm');
  if (sdkAlgorithm) algorithms.add(checksumAlgorithm(sdkAlgorithm));
  const digests = new BodyDigests({ sha256: framing.kind === 'plain' && framing.sha256 !== null, algorithms, offload: (options.offload ?? false) && (length === null || length >= OFFLOAD_BYTES) });

  const count = (n: number) => {
    if (digests.bytes + n > maxBytes) throw s3Error('EntityTooLarge', undefined, { MaxSizeAllowed: String(maxBytes) });
    if (length !== null && digests.bytes + n > length) throw s3Error('InvalidRequest', 'the body is longer than announced');
  };

  async function* plain(): AsyncGenerator<Buffer> {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      count(chunk.length);
      digests.update(chunk);
      yield chunk;
    }
    if (length !== null && digests.bytes !== length) throw s3Error('IncompleteBody');
  }

  async function* chunked(signed: boolean, trailer: boolean): AsyncGenerator<Buffer> {
    const it = (req as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    let buf: Buffer = Buffer.alloc(0);
    let ended = false;
    const more = async (): Promise<boolean> => {
      if (ended) return false;
      const next = await it.next();
      if (next.done) {
        ended = true;
        return false;
      }
      buf = buf.length === 0 ? next.value : Buffer.concat([buf, next.value]);
      return true;
    };
    const line = async (): Promise<string> => {
      for (;;) {
        const at = buf.indexOf('\r\n');
        if (at >= 0) {
          const text = buf.subarray(0, at).toString('latin1');
          buf = buf.subarray(at + 2);
          return text;
        }
        if (buf.length > MAX_CHUNK_LINE) throw s3Error('InvalidRequest', 'a chunk header of the aws-chunked body is too long');
        if (!(await more())) throw s3Error('IncompleteBody');
      }
    };
    let previous = verified.signature;
    for (;;) {
      const head = await line();
      const m = /^([0-9a-fA-F]{1,16})(?:;chunk-signature=([0-9a-f]{64}))?$/.exec(head);
      if (!m || (signed && !m[2])) throw s3Error('InvalidRequest', 'malformed aws-chunked chunk header');
      const size = parseInt(m[1]!, 16);
      const hash = signed ? createHash('sha256') : null;
      let left = size;
      if (size > 0) count(size);
      while (left > 0) {
        if (buf.length === 0 && !(await more())) throw s3Error('IncompleteBody');
        const piece = buf.subarray(0, Math.min(left, buf.length));
        buf = buf.subarray(piece.length);
        left -= piece.length;
        hash?.update(piece);
        digests.update(piece);
        yield piece;
      }
      if (signed) {
        const expectedSig = chunkSignature(verified, previous, hash!.digest('hex'));
        if (!sameSignature(expectedSig, m[2]!)) throw s3Error('SignatureDoesNotMatch', 'a chunk signature of the streaming upload does not match');
        previous = m[2]!;
      }
      if (size === 0) break;
      if ((await line()) !== '') throw s3Error('InvalidRequest', 'malformed aws-chunked body (no CRLF after a chunk)');
    }
    if (trailer) {
      const lines: string[] = [];
      let signature: string | null = null;
      for (;;) {
        const l = await line().catch((e: unknown) => {
          if (ended && buf.length === 0) return '';
          throw e;
        });
        if (l === '') break;
        const colon = l.indexOf(':');
        if (colon < 0) throw s3Error('InvalidRequest', 'malformed trailer in the aws-chunked body');
        const name = l.slice(0, colon).trim().toLowerCase();
        const value = l.slice(colon + 1).trim();
        if (name === 'x-amz-trailer-signature') signature = value;
        else {
          if (!trailerNames.includes(name)) throw s3Error('InvalidRequest', `trailer ${name.slice(0, 40)} was not announced in x-amz-trailer`);
          lines.push(`${name}:${value}\n`);
          expected.set(checksumAlgorithm(name.slice('x-amz-checksum-'.length)), value);
        }
      }
      if (signed) {
        if (signature === null || !sameSignature(trailerSignature(verified, previous, lines.join('')), signature)) {
          throw s3Error('SignatureDoesNotMatch', 'the trailer signature of the streaming upload does not match');
        }
      }
    }
    if (length !== null && digests.bytes !== length) throw s3Error('IncompleteBody');
  }

  const chunks = framing.kind === 'plain' ? plain() : chunked(framing.signed, framing.trailer);
  return { chunks, length, digests, expected };
}

/**
 * Compares the finished digests with what the client gave: the signed
 * payload hash (XAmzContentSHA256Mismatch), Content-MD5 and the checksums
 * (BadDigest). Returns the MD5 (hex) and the checksums to keep.
 */
export async function checkDigests(req: IncomingMessage, verified: Verified, body: Body): Promise<{ md5: string; md5Bytes: Buffer; checksums: Record<string, string> }> {
  const done = await body.digests.finish();
  const framing = framingOf(verified.payloadHash);
  if (framing.kind === 'plain' && framing.sha256 !== null && done.sha256 !== framing.sha256) throw s3Error('XAmzContentSHA256Mismatch');
  const contentMd5 = headerOf(req, 'content-md5');
  if (contentMd5 !== undefined) {
    const given = Buffer.from(contentMd5, 'base64');
    if (given.length !== 16 || given.toString('base64') !== contentMd5.trim()) throw s3Error('InvalidDigest');
    if (!given.equals(done.md5)) throw s3Error('BadDigest');
  }
  const checksums: Record<string, string> = {};
  for (const [algorithm, value] of body.expected) {
    if (done.checksums[algorithm] !== value) throw s3Error('BadDigest', `the ${algorithm.toUpperCase()} checksum you specified did not match what we received`);
    checksums[algorithm] = value;
  }
  for (const [algorithm, value] of Object.entries(done.checksums)) checksums[algorithm] ??= value;
  return { md5: done.md5.toString('hex'), md5Bytes: done.md5, checksums };
}
