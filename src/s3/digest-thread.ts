// Threads of their own for the digests of large uploads (MD5 for the ETag, a
// signed payload's SHA-256, CRC32 and SHA-1 checksums): at 665 MiB/s for MD5
// and 1.6 GiB/s for SHA-256 on the machine here, hashing a 64 MiB upload on
// the main thread cost it about 150 ms that the rest of the put (HTTP
// parsing, encoding hand-offs, fragment writes) was waiting for. Each thread
// reads each extent where the put already holds it, in the buffer arena's
// shared memory (no copy), and says when it is done with it; bytes in
// ordinary memory go as copies. In order, per stream; the digests come back
// when asked.
//
// An upload's MD5 runs on one thread and its other digests on another, so
// one upload is bound by its MD5 (about 720 MiB/s here) rather than by the
// sum of its digests, and concurrent uploads spread over the threads: up to
// one per core (at most four), started when first needed and stopped after
// idleMs without a stream (each holds about 10 MiB).
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';

/** The thread's code (CommonJS, evaluated): a map of running hashes by stream id. */
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { crc32 } = require('node:zlib');
const streams = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'open') {
    const s = { hashes: new Map(), crc32: m.algorithms.includes('crc32') ? 0 : null };
    for (const a of m.algorithms) if (a !== 'crc32') s.hashes.set(a, createHash(a));
    streams.set(m.id, s);
  } else if (m.op === 'update') {
    const s = streams.get(m.id);
    const bytes = new Uint8Array(m.bytes, m.offset, m.length);
    for (const h of s.hashes.values()) h.update(bytes);
    if (s.crc32 !== null) s.crc32 = crc32(bytes, s.crc32);
    if (m.ack) parentPort.postMessage({ ack: m.ack });
  } else if (m.op === 'finish') {
    const s = streams.get(m.id);
    streams.delete(m.id);
    const out = {};
    for (const [a, h] of s.hashes) out[a] = h.digest();
    if (s.crc32 !== null) { const b = Buffer.alloc(4); b.writeUInt32BE(s.crc32 >>> 0); out.crc32 = b; }
    parentPort.postMessage({ id: m.id, digests: out });
  } else if (m.op === 'drop') {
    streams.delete(m.id);
  }
});
`;

export type ThreadAlgorithm = 'md5' | 'sha256' | 'sha1' | 'crc32';

/** At most this many digest threads: one per core, and no more than four. */
export const DIGEST_THREADS = Math.max(1, Math.min(4, availableParallelism()));
/** A thread without a stream for `idleMs` stops (changed by tests). */
export const digestThreadSettings = { idleMs: 30_000 };

class DigestThread {
  readonly worker: Worker;
  /** The weight of the streams open on this thread (see weightOf). */
  load = 0;
  /** Streams open or finishing (their digests not yet back). */
  private active = 0;
  private idle: NodeJS.Timeout | null = null;
  private readonly waiting = new Map<number, (digests: Record<string, Uint8Array>) => void>();
  private readonly acks = new Map<number, () => void>();

  constructor() {
    this.worker = new Worker(SOURCE, { eval: true });
    this.worker.on('message', (m: { id: number; digests: Record<string, Uint8Array> } | { ack: number }) => {
      if ('ack' in m) {
        this.acks.get(m.ack)?.();
        this.acks.delete(m.ack);
        return;
      }
      this.waiting.get(m.id)?.(m.digests);
      this.waiting.delete(m.id);
    });
    running++;
    this.worker.once('exit', () => running--);
    // Not kept alive by the thread: a daemon that stops does not wait for it.
    this.worker.unref();
  }

  open(id: number, algorithms: readonly ThreadAlgorithm[]): void {
    this.active++;
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    this.worker.postMessage({ op: 'open', id, algorithms });
  }

  /** A stream has ended: with none left, the thread stops after idleMs (unless one opens before). */
  private ended(): void {
    if (--this.active > 0) return;
    this.idle = setTimeout(() => {
      threads.splice(threads.indexOf(this), 1);
      void this.worker.terminate();
    }, digestThreadSettings.idleMs);
    this.idle.unref();
  }

  update(id: number, bytes: Uint8Array): Promise<void> {
    if (bytes.buffer instanceof SharedArrayBuffer) {
      const ack = nextAck++;
      return new Promise((resolve) => {
        this.acks.set(ack, resolve);
        this.worker.postMessage({ op: 'update', id, bytes: bytes.buffer, offset: bytes.byteOffset, length: bytes.byteLength, ack });
      });
    }
    const copy = new Uint8Array(bytes.byteLength);
    copy.set(bytes);
    this.worker.postMessage({ op: 'update', id, bytes: copy.buffer, offset: 0, length: copy.byteLength }, [copy.buffer]);
    return Promise.resolve();
  }

  finish(id: number): Promise<Record<string, Uint8Array>> {
    return new Promise((resolve) => {
      this.waiting.set(id, (digests) => {
        this.ended();
        resolve(digests);
      });
      this.worker.postMessage({ op: 'finish', id });
    });
  }

  drop(id: number): void {
    this.worker.postMessage({ op: 'drop', id });
    this.ended();
  }
}

const threads: DigestThread[] = [];
/** Threads started and not yet exited (the ones stopping included). */
let running = 0;
let nextId = 1;
let nextAck = 1;

/** About what a group of digests costs a byte: MD5 about twice SHA-256 and CRC32 together. */
function weightOf(group: readonly ThreadAlgorithm[]): number {
  return group.includes('md5') ? 2 : 1;
}

/** The least loaded thread; a new one while there are fewer than DIGEST_THREADS and all are in use. */
function pick(): DigestThread {
  let best: DigestThread | null = null;
  for (const t of threads) if (!best || t.load < best.load) best = t;
  if ((!best || best.load > 0) && threads.length < DIGEST_THREADS) {
    best = new DigestThread();
    threads.push(best);
  }
  return best!;
}

/** The load of each digest thread that takes streams (0 for an idle one). */
export function digestThreadLoads(): number[] {
  return threads.map((t) => t.load);
}

/** How many digest threads are running (a stopping one until it has exited). */
export function digestThreadsRunning(): number {
  return running;
}

/** Digests of one stream of bytes, computed on the digest threads: MD5 on one, the others on another. */
export class ThreadDigests {
  private readonly parts: { thread: DigestThread; id: number; weight: number }[] = [];
  private done = false;

  constructor(algorithms: readonly ThreadAlgorithm[]) {
    const md5 = algorithms.filter((a) => a === 'md5');
    const rest = algorithms.filter((a) => a !== 'md5');
    for (const group of [md5, rest]) {
      if (group.length === 0) continue;
      const part = { thread: pick(), id: nextId++, weight: weightOf(group) };
      part.thread.load += part.weight;
      part.thread.open(part.id, group);
      this.parts.push(part);
    }
  }

  /** How many threads this stream's digests run on. */
  get threadCount(): number {
    return new Set(this.parts.map((p) => p.thread)).size;
  }

  /**
   * Hashes the next bytes. Bytes in shared memory are read where they lie:
   * the promise settles once every thread is done with them (the caller must
   * not change them before). Others are copied at once.
   */
  update(bytes: Uint8Array): Promise<void> {
    if (this.parts.length === 1) return this.parts[0]!.thread.update(this.parts[0]!.id, bytes);
    return Promise.all(this.parts.map((p) => p.thread.update(p.id, bytes))).then(() => {});
  }

  async finish(): Promise<Record<string, Buffer>> {
    this.done = true;
    for (const p of this.parts) p.thread.load -= p.weight;
    const all = await Promise.all(this.parts.map((p) => p.thread.finish(p.id)));
    const out: Record<string, Buffer> = {};
    for (const digests of all) for (const [k, v] of Object.entries(digests)) out[k] = Buffer.from(v);
    return out;
  }

  /** Forgets the stream (a failed upload). */
  drop(): void {
    if (this.done) return;
    this.done = true;
    for (const p of this.parts) {
      p.thread.load -= p.weight;
      p.thread.drop(p.id);
    }
  }
}
