// npm run bench:s3 — the S3 endpoint against the pool's own /v1 API, on the
// same daemon, in the same run (each large object is sent or read by both
// sides in turn, the first changing each time; the small ones a side at a
// time, the first changing from round to round):
//   - PUT and GET of a 64 MiB object through the AWS SDK for JavaScript
//     (PutObject with a Buffer body: a signed payload hash and the SDK's
//     default CRC32; GetObject with its default checksum validation) and
//     through /v1 with Node's HTTP client (target: S3 ≥ 0.8× /v1);
//   - the same PUT as a multipart upload (8 MiB parts, 4 at once, as the
//     SDK's Upload and the AWS CLI send a large file), how long its
//     CompleteMultipartUpload took, and how long after its answer the
//     fragment headers were rewritten (waited for before the next request,
//     and not timed);
//   - the same PUT with a stream body (Body a Readable, ContentLength given),
//     as a client streaming a file sends it: aws-chunked with an unsigned
//     payload and a CRC32 trailer (the SDK hashes nothing before sending);
//   - the same GET with the client's checksum validation off (the SDK's
//     responseChecksumValidation WHEN_REQUIRED): its CRC32 of the body runs
//     in JavaScript on the client's side;
//   - PUT and GET of 4 KiB objects from 16 concurrent clients;
//   - CPU per request of the daemon and of the client process, each side;
//   - the digest threads alone (MD5, SHA-256 and CRC32 of 64 MiB in 1 MiB
//     pieces of shared memory, as a signed PUT with the SDK's checksum has
//     them computed): one upload and DIGEST_THREADS at once, against the same
//     three digests computed one after another on one thread, in this process;
//   - what S3 adds to the Buffer-body PUT: the wall time, the client's hashing
//     before the request starts, and the daemon's CPU beyond /v1's, split into
//     the digests (as measured alone) and the rest (the S3 layer, and the
//     kernel's share of the writes, which varies from run to run).
//
//   DFS_BENCH_ROUNDS   rounds (default 5)
//   DFS_BENCH_LARGE    large objects per round and side (default 3)
//   DFS_BENCH_SMALL    small objects per round and side (default 1000)
//   DFS_BENCH_FSYNC_DELAY_US
//                      a delay added to every fsync and fdatasync of the
//                      daemon (strace), as disks with a slower flush than
//                      this machine's one virtual disk would take; a spinning
//                      disk's is some milliseconds (default 0: none)
import { Agent, request } from 'node:http';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { Readable } from 'node:stream';
import { CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { BIN, cli, COMMAND_NODE_FLAGS, tempDir } from '../helpers/cli.js';
import { startDaemon } from '../helpers/daemon.js';
import { cpuSeconds } from '../helpers/memory-load.js';
import { s3Client, type S3Key } from '../helpers/s3.js';
import { median, printRows, slowFlushes } from './harness.js';
import { DIGEST_THREADS, ThreadDigests } from '../../src/s3/digest-thread.js';

const ROUNDS = Number(process.env.DFS_BENCH_ROUNDS ?? 5);
const LARGE = Number(process.env.DFS_BENCH_LARGE ?? 3);
const SMALL = Number(process.env.DFS_BENCH_SMALL ?? 1000);
const FSYNC_DELAY_US = Number(process.env.DFS_BENCH_FSYNC_DELAY_US ?? 0);
const CLIENTS = 16;
/** The multipart PUT: the SDK's Upload defaults (lib-storage: 5 MiB parts, 4 at once) but with the AWS CLI's 8 MiB parts. */
const PART_BYTES = 8 * 1024 * 1024;
const PARTS_AT_ONCE = 4;
/** Milliseconds each CompleteMultipartUpload took (the warm-up's dropped). */
const completeMs: number[] = [];
/** Milliseconds from each completion's answer until its headers were rewritten (its assembly records gone). */
const rewriteMs: number[] = [];
/** Seconds of the running timed() not to count: the wait for a completion's background rewrite. */
let untimed = 0;
const MiB = 1024 * 1024;

const root = tempDir('dfs-bench-s3-');
const disks = Array.from({ length: 6 }, (_, i) => join(root, `d${i}`));
for (const d of disks) mkdirSync(d);
const poolDir = join(root, 'pool');
cli(['--pool', poolDir, 'init', '--policy', 'ec:4+2', ...disks.flatMap((d) => ['--disk', d])]);
const key = cli(['--pool', poolDir, 's3-key', 'create', '--json']).json as S3Key;
const strace = FSYNC_DELAY_US > 0 ? slowFlushes(FSYNC_DELAY_US) : [];
if (strace === null) {
  console.error('DFS_BENCH_FSYNC_DELAY_US needs strace (apt-get install strace)');
  process.exit(2);
}
const daemon = await startDaemon(poolDir, ['serve', '--log-level', 'warn'], {}, [...strace, process.execPath, ...COMMAND_NODE_FLAGS, BIN]);
const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
const s3 = s3Client(daemon.s3Url!, key, { requestHandler: new NodeHttpHandler({ httpAgent: agent }) });
// The same client, validating a GET's checksum only when asked (ChecksumMode): its default CRC32 of every
// body runs in JavaScript, on the client's side.
const s3Unchecked = s3Client(daemon.s3Url!, key, { requestHandler: new NodeHttpHandler({ httpAgent: agent }), responseChecksumValidation: 'WHEN_REQUIRED' });
await s3.send(new CreateBucketCommand({ Bucket: 'bench' }));
const v1 = new URL(daemon.url);
const auth = { authorization: `Bearer ${daemon.token}` };

function v1Request(method: string, key: string, body?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: v1.hostname, port: v1.port, method, path: `/v1/objects/${key}`, agent, headers: { ...auth, ...(body ? { 'content-type': 'application/octet-stream', 'content-length': body.length } : {}) } }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => (n += d.length));
      res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`${method} ${key}: ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A GetObject's body, counted as it streams. */
async function s3Get(client: typeof s3, k: string): Promise<number> {
  const out = await client.send(new GetObjectCommand({ Bucket: 'bench', Key: k }));
  let n = 0;
  for await (const chunk of out.Body as AsyncIterable<Uint8Array>) n += chunk.length;
  return n;
}

const v1Put = async (k: string, body: Buffer) => {
  await v1Request('PUT', `bench/${k}`, body);
};
const v1Get = (k: string) => v1Request('GET', `bench/${k}`);

const sides = {
  s3: {
    put: async (k: string, body: Buffer) => {
      await s3.send(new PutObjectCommand({ Bucket: 'bench', Key: k, Body: body }));
    },
    putStream: async (k: string, body: Buffer) => {
      await s3.send(new PutObjectCommand({ Bucket: 'bench', Key: k, Body: Readable.from([body]), ContentLength: body.length }));
    },
    /** As the SDK's Upload (lib-storage) sends a large body: PART_BYTES parts, PARTS_AT_ONCE at once, then the completion (timed apart). */
    putMultipart: async (k: string, body: Buffer) => {
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'bench', Key: k }));
      const parts: { PartNumber: number; ETag: string }[] = [];
      let next = 0;
      await Promise.all(Array.from({ length: PARTS_AT_ONCE }, async () => {
        for (let at = next++ * PART_BYTES; at < body.length; at = next++ * PART_BYTES) {
          const PartNumber = at / PART_BYTES + 1;
          const { ETag } = await s3.send(new UploadPartCommand({ Bucket: 'bench', Key: k, UploadId, PartNumber, Body: body.subarray(at, at + PART_BYTES) }));
          parts.push({ PartNumber, ETag: ETag! });
        }
      }));
      parts.sort((a, b) => a.PartNumber - b.PartNumber);
      const start = performance.now();
      await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'bench', Key: k, UploadId, MultipartUpload: { Parts: parts } }));
      const answered = performance.now();
      completeMs.push(answered - start);
      // The headers are rewritten after the answer: waited for (and not timed), so that the rewrite does not
      // run into the next request, of either side. Its CPU is counted, as S3's.
      while (disks.some((d) => existsSync(join(d, 'assembling')) && readdirSync(join(d, 'assembling')).length > 0)) await sleep(2);
      rewriteMs.push(performance.now() - answered);
      untimed += (performance.now() - answered) / 1000;
    },
    get: (k: string) => s3Get(s3, k),
    getUnchecked: (k: string) => s3Get(s3Unchecked, k),
  },
  // /v1 has one way to send a body and one to read it: its stream and unchecked cases are the same requests.
  v1: { put: v1Put, putStream: v1Put, putMultipart: v1Put, get: v1Get, getUnchecked: v1Get },
};
type Side = keyof typeof sides;


/** CPU seconds spent by the daemon and by this process (the clients) during the last timed phase. */
let lastCpu = { daemon: 0, client: 0 };

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const d0 = cpuSeconds(daemon.pid);
  const c0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  untimed = 0;
  await fn();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9 - untimed;
  const c = process.cpuUsage(c0);
  lastCpu = { daemon: cpuSeconds(daemon.pid) - d0, client: (c.user + c.system) / 1e6 };
  return seconds;
}

async function parallel(n: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (next < n) await fn(next++);
  }));
}

const large = randomBytes(64 * MiB);
const small = Array.from({ length: 64 }, () => randomBytes(4096));
const rates: Record<string, number[]> = {};
const record = (name: string, value: number) => (rates[name] ??= []).push(value);
const ratios: Record<string, number[]> = {};

/** The large cases: each object is sent (or read) by both sides in turn, so that both see the same moments of a noisy machine. */
const largeCases: { name: string; op: (s: (typeof sides)[Side], side: Side, i: number) => Promise<unknown> }[] = [
  { name: '64 MiB PUT (MB/s)', op: (s, side, i) => s.put(`large-${side}-${i}`, large) },
  { name: '64 MiB GET (MB/s)', op: async (s, side, i) => { if ((await s.get(`large-${side}-${i}`)) !== large.length) throw new Error('short GET'); } },
  { name: '64 MiB GET, no client checksum (MB/s)', op: async (s, side, i) => { if ((await s.getUnchecked(`large-${side}-${i}`)) !== large.length) throw new Error('short GET'); } },
  { name: '64 MiB PUT, stream body (MB/s)', op: (s, side, i) => s.putStream(`stream-${side}-${i}`, large) },
  { name: `64 MiB PUT, multipart (${PART_BYTES / MiB} MiB parts, ${PARTS_AT_ONCE} at once) (MB/s)`, op: (s, side, i) => s.putMultipart(`multipart-${side}-${i}`, large) },
];

// A warm-up, not counted: the daemon's worker and digest threads, and both sides' code, ready before the first timing.
for (const side of ['s3', 'v1'] as const) {
  for (const { op } of largeCases) await op(sides[side], side, 0);
}
completeMs.length = 0;
rewriteMs.length = 0;

for (let round = 0; round < ROUNDS; round++) {
  const got: Record<string, Record<Side, number>> = {};
  const note = (name: string, side: Side, value: number, ops: number, cpu: { daemon: number; client: number }) => {
    (got[name] ??= { s3: 0, v1: 0 })[side] = value;
    record(`${name} ${side}`, value);
    record(`${name} ${side} daemon cpu`, (cpu.daemon / ops) * 1000);
    record(`${name} ${side} client cpu`, (cpu.client / ops) * 1000);
  };
  for (const { name, op } of largeCases) {
    const seconds = { s3: 0, v1: 0 };
    const cpu = { s3: { daemon: 0, client: 0 }, v1: { daemon: 0, client: 0 } };
    for (let i = 0; i < LARGE; i++) {
      for (const side of (round + i) % 2 === 0 ? (['s3', 'v1'] as const) : (['v1', 's3'] as const)) {
        seconds[side] += await timed(() => op(sides[side], side, i));
        cpu[side].daemon += lastCpu.daemon;
        cpu[side].client += lastCpu.client;
      }
    }
    for (const side of ['s3', 'v1'] as const) note(name, side, (LARGE * large.length) / seconds[side] / 1e6, LARGE, cpu[side]);
  }
  // The small objects: a side at a time (16 clients each), the first side changing from round to round.
  for (const side of round % 2 === 0 ? (['s3', 'v1'] as const) : (['v1', 's3'] as const)) {
    const s = sides[side];
    const smallPut = await timed(() => parallel(SMALL, (i) => s.put(`small-${side}/${round}-${i}`, small[i % small.length]!)));
    note(`4 KiB PUT, ${CLIENTS} clients (objects/s)`, side, SMALL / smallPut, SMALL, lastCpu);
    const smallGet = await timed(() => parallel(SMALL, async (i) => {
      if ((await s.get(`small-${side}/${round}-${i}`)) !== 4096) throw new Error('short GET');
    }));
    note(`4 KiB GET, ${CLIENTS} clients (objects/s)`, side, SMALL / smallGet, SMALL, lastCpu);
  }
  for (const [name, v] of Object.entries(got)) (ratios[name] ??= []).push(v.s3 / v.v1);
  process.stderr.write(`round ${round + 1}/${ROUNDS}\n`);
}

console.log(`\nS3 (AWS SDK) against /v1 on the same daemon, ec:4+2, 6 disks${FSYNC_DELAY_US > 0 ? `, every fsync of the daemon ${FSYNC_DELAY_US / 1000} ms slower (strace)` : ''}; medians of ${ROUNDS} rounds (ratio: median of per-round ratios)\n`);
printRows([
  ['case', 'S3', '/v1', 'S3 ÷ /v1'],
  ...Object.keys(ratios).map((name) => [name, median(rates[`${name} s3`]!).toFixed(0), median(rates[`${name} v1`]!).toFixed(0), `${median(ratios[name]!).toFixed(2)}×`]),
]);
console.log('\nCPU per request (ms, medians): the daemon (all threads, /proc) and the client process (the SDK, or Node\'s HTTP client for /v1)\n');
printRows([
  ['case', 'daemon, S3', 'daemon, /v1', 'client, SDK', 'client, /v1'],
  ...Object.keys(ratios).map((name) => [name.replace(/ \(.*\)$/, ''), ...['s3 daemon', 'v1 daemon', 's3 client', 'v1 client'].map((k) => median(rates[`${name} ${k} cpu`]!).toFixed(2))]),
]);
const multipartName = Object.keys(ratios).find((n) => n.includes('multipart'))!;
const multipartMs = (large.length / (median(rates[`${multipartName} s3`]!) * 1e6)) * 1000;
console.log(`\nThe multipart PUT's CompleteMultipartUpload: ${median(completeMs).toFixed(0)} ms, median of ${completeMs.length}, of ${multipartMs.toFixed(0)} ms for the whole upload; its headers were rewritten ${median(rewriteMs).toFixed(0)} ms after the answer (waited for before the next request, not timed)`);
s3.destroy();
s3Unchecked.destroy();
agent.destroy();
await daemon.stop();
rmSync(root, { recursive: true, force: true });

// The digest threads, with the daemon stopped.
const shared = new Uint8Array(new SharedArrayBuffer(large.length));
shared.set(large);
/** Seconds to digest `streams` uploads of the 64 MiB at once on the digest threads (each extent fed as a put feeds it). */
async function threaded(streams: number): Promise<number> {
  const start = performance.now();
  await Promise.all(Array.from({ length: streams }, async () => {
    const d = new ThreadDigests(['md5', 'sha256', 'crc32']);
    const pending: Promise<void>[] = [];
    for (let at = 0; at < shared.length; at += MiB) {
      pending.push(d.update(shared.subarray(at, at + MiB)));
      if (pending.length >= 6) await pending.shift();
    }
    await Promise.all(pending);
    await d.finish();
  }));
  return (performance.now() - start) / 1000;
}
function oneThread(): number {
  const start = performance.now();
  const md5 = createHash('md5');
  const sha = createHash('sha256');
  let crc = 0;
  for (let at = 0; at < shared.length; at += MiB) {
    const piece = shared.subarray(at, at + MiB);
    md5.update(piece);
    sha.update(piece);
    crc = crc32(piece, crc);
  }
  md5.digest();
  sha.digest();
  return (performance.now() - start) / 1000;
}
// The threads do not keep the process alive by themselves.
const keepAlive = setInterval(() => {}, 1000);
await threaded(1);
const digestRates: Record<string, number[]> = { base: [], one: [], many: [] };
for (let round = 0; round < ROUNDS; round++) {
  digestRates.base!.push(64 / oneThread());
  digestRates.one!.push(64 / (await threaded(1)));
  digestRates.many!.push((64 * DIGEST_THREADS) / (await threaded(DIGEST_THREADS)));
}
clearInterval(keepAlive);
const base = median(digestRates.base!);
console.log(`\nDigests of a signed PUT with a CRC32 (MD5, SHA-256, CRC32), MiB/s, medians of ${ROUNDS} rounds; ${DIGEST_THREADS} digest threads on this machine\n`);
printRows([
  ['case', 'MiB/s', '÷ one thread in turn'],
  ['one thread, the three in turn (baseline)', base.toFixed(0), '1.00×'],
  ['digest threads, one upload', median(digestRates.one!).toFixed(0), `${(median(digestRates.one!) / base).toFixed(2)}×`],
  [`digest threads, ${DIGEST_THREADS} uploads at once`, median(digestRates.many!).toFixed(0), `${(median(digestRates.many!) / base).toFixed(2)}×`],
]);

// Where the Buffer-body PUT's extra time goes: the client's hashing before it sends (SHA-256 for the
// signature, CRC32 for the checksum header, computed here as the SDK computes them: node:crypto and
// zlib), and the daemon's CPU beyond /v1's, against the same digests measured alone above.
const preHash: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const start = performance.now();
  createHash('sha256').update(large).digest();
  crc32(large);
  preHash.push(performance.now() - start);
}
const PUT = '64 MiB PUT (MB/s)';
const msPerPut = (side: Side) => (large.length / (median(rates[`${PUT} ${side}`]!) * 1e6)) * 1000;
const daemonExtra = median(rates[`${PUT} s3 daemon cpu`]!) - median(rates[`${PUT} v1 daemon cpu`]!);
const digestsAlone = (64 / base) * 1000;
console.log('\nThe 64 MiB PUT with a Buffer body: what S3 adds, ms per PUT (medians)\n');
printRows([
  ['', 'ms'],
  ['wall time, S3 − /v1', (msPerPut('s3') - msPerPut('v1')).toFixed(0)],
  ['client: SHA-256 and CRC32 of the body, before the request starts', median(preHash).toFixed(0)],
  ['daemon CPU, S3 − /v1', daemonExtra.toFixed(0)],
  ['  of which its digests (MD5, SHA-256, CRC32 on one thread, as above)', digestsAlone.toFixed(0)],
  ['  the rest: the S3 layer, and the kernel\'s share of the writes (it varies run to run)', (daemonExtra - digestsAlone).toFixed(0)],
]);
