// The digests of an upload: MD5 (the ETag), the x-amz-checksum-* algorithms
// S3 defines (CRC32, CRC32C, SHA-1, SHA-256), and SHA-256 of the payload when
// the signature covers it. Each is computed while the bytes stream to the
// disks and compared before the object becomes visible.
import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { s3Error } from './errors.js';
import { ThreadDigests, type ThreadAlgorithm } from './digest-thread.js';

export const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256 * 8);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) for (let s = 1; s < 8; s++) t[s * 256 + i] = (t[(s - 1) * 256 + i]! >>> 8) ^ t[t[(s - 1) * 256 + i]! & 0xff]!;
  return t;
})();

/** CRC32C (Castagnoli), slicing by 8; `crc` is the running value. */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  const t = CRC32C_TABLE;
  let c = ~crc >>> 0;
  let i = 0;
  const n = bytes.length;
  for (; i + 8 <= n; i += 8) {
    const a = c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    c = t[7 * 256 + (a & 0xff)]! ^ t[6 * 256 + ((a >>> 8) & 0xff)]! ^ t[5 * 256 + ((a >>> 16) & 0xff)]! ^ t[4 * 256 + (a >>> 24)]!
      ^ t[3 * 256 + bytes[i + 4]!]! ^ t[2 * 256 + bytes[i + 5]!]! ^ t[256 + bytes[i + 6]!]! ^ t[bytes[i + 7]!]!;
  }
  for (; i < n; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function crcDigest(value: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0);
  return b.toString('base64');
}

class Running {
  private hash: Hash | null = null;
  private crc = 0;
  constructor(readonly algorithm: ChecksumAlgorithm) {
    if (algorithm === 'sha1' || algorithm === 'sha256') this.hash = createHash(algorithm);
  }
  update(bytes: Uint8Array): void {
    if (this.hash) this.hash.update(bytes);
    else if (this.algorithm === 'crc32') this.crc = crc32(bytes, this.crc);
    else this.crc = crc32c(bytes, this.crc);
  }
  /** base64, as S3 writes checksums. */
  digest(): string {
    return this.hash ? this.hash.digest('base64') : crcDigest(this.crc);
  }
}

/** The checksum algorithm a header or parameter names, or an S3 error. */
export function checksumAlgorithm(name: string): ChecksumAlgorithm {
  const lower = name.toLowerCase();
  if ((CHECKSUM_ALGORITHMS as readonly string[]).includes(lower)) return lower as ChecksumAlgorithm;
  throw s3Error('InvalidRequest', `checksum algorithm ${name.slice(0, 20)} is not supported (CRC32, CRC32C, SHA1 and SHA256 are)`);
}

/** Bodies at least this long (or of unknown length) are hashed on the digest thread. */
export const OFFLOAD_BYTES = 1024 * 1024;

/**
 * Digests of a body as it streams: MD5 always, SHA-256 of a signed payload,
 * and the requested checksums. With `offload` the native ones are computed on
 * the digest thread (CRC32C, in JavaScript, stays here).
 */
export class BodyDigests {
  bytes = 0;
  private readonly local = new Map<string, Hash | Running>();
  private readonly remote: ThreadDigests | null = null;
  private readonly algorithms: ChecksumAlgorithm[];
  private readonly payloadHash: boolean;

  constructor(options: { sha256?: boolean; algorithms?: Iterable<ChecksumAlgorithm>; offload?: boolean }) {
    this.payloadHash = options.sha256 ?? false;
    this.algorithms = [...new Set(options.algorithms ?? [])];
    const wanted = new Set<string>(['md5', ...(this.payloadHash ? ['sha256'] : []), ...this.algorithms]);
    if (options.offload) {
      const threaded = [...wanted].filter((a): a is ThreadAlgorithm => a !== 'crc32c');
      this.remote = new ThreadDigests(threaded);
      for (const a of threaded) wanted.delete(a);
    }
    for (const a of wanted) this.local.set(a, a === 'md5' || a === 'sha1' || a === 'sha256' ? createHash(a) : new Running(a as ChecksumAlgorithm));
  }

  /** Counts the bytes and hashes them here (with `offload`, only what the digest thread cannot: feed() gives it the rest). */
  update(bytes: Uint8Array): void {
    this.bytes += bytes.length;
    for (const h of this.local.values()) h.update(bytes);
  }

  /** With `offload`: the same bytes, in order, for the digest thread (settles when it is done with them). */
  feed(bytes: Uint8Array): Promise<void> {
    return this.remote ? this.remote.update(bytes) : Promise.resolve();
  }

  get offloaded(): boolean {
    return this.remote !== null;
  }

  /** Every digest, once the body has ended. */
  async finish(): Promise<{ md5: Buffer; sha256: string | null; checksums: Partial<Record<ChecksumAlgorithm, string>> }> {
    const raw: Record<string, Buffer> = this.remote ? await this.remote.finish() : {};
    for (const [a, h] of this.local) raw[a] = h instanceof Running ? Buffer.from(h.digest(), 'base64') : h.digest();
    const checksums: Partial<Record<ChecksumAlgorithm, string>> = {};
    for (const a of this.algorithms) checksums[a] = raw[a]!.toString('base64');
    return { md5: raw.md5!, sha256: this.payloadHash ? raw.sha256!.toString('hex') : null, checksums };
  }

  /** Lets go of the digest thread's state (a body that failed). */
  drop(): void {
    this.remote?.drop();
  }
}
