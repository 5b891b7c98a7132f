// npm run bench:node-settings — what two of the settings the `dynamicfs`
// command's #! line gives node buy the daemon, each against the daemon
// without it, in the same run:
//
//   - 16 I/O threads (UV_THREADPOOL_SIZE) against libuv's default 4, on disks
//     whose flushes are slow. Fragment I/O (open, writev, fdatasync, rename, a
//     folder's fsync) runs on libuv's thread pool; with 4 threads only four
//     fsyncs wait at once, across every disk. Directory disks on this
//     machine's one virtual disk flush in well under a millisecond, so strace
//     (--seccomp-bpf: only the two calls are traced) adds a delay to every
//     fsync and fdatasync of the daemon, as a disk with a slower flush would
//     take. Two daemons (16 threads and 4) take the same 64 MiB /v1 PUTs in
//     alternating order.
//   - V8's old generation sized from the start (--initial-old-space-size=32)
//     against V8's own sizing. Without it, some daemons fall into a storm of
//     full collections under 64 MiB PUTs through S3 and /v1 in turn (several
//     per PUT, each marking the whole heap, on every core), and others never
//     do; which one a daemon gets is settled early in its life. So the bench
//     starts several daemons of each kind, puts the same objects through
//     each (an S3 PUT with the AWS SDK, then a /v1 PUT), and counts the full
//     collections (nodejs_gc_duration_seconds_count{kind="major"} of /metrics)
//     and the daemon's user CPU.
//
//   DFS_BENCH_ROUNDS    PUT pairs per fsync delay (default 5)
//   DFS_BENCH_DELAYS_US the added fsync delays in microseconds (default 0,4000)
//   DFS_BENCH_DAEMONS   daemons of each kind for the GC part (default 4)
//   DFS_BENCH_PUTS      pairs of 64 MiB PUTs (S3, /v1) through each of them (default 6)
import { Agent, request } from 'node:http';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { BIN, cli, COMMAND_NODE_FLAGS, tempDir } from '../helpers/cli.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { s3Client, type S3Key } from '../helpers/s3.js';
import { median, printRows, slowFlushes } from './harness.js';

const ROUNDS = Number(process.env.DFS_BENCH_ROUNDS ?? 5);
const DELAYS = (process.env.DFS_BENCH_DELAYS_US ?? '0,4000').split(',').map(Number);
const DAEMONS = Number(process.env.DFS_BENCH_DAEMONS ?? 4);
const PUTS = Number(process.env.DFS_BENCH_PUTS ?? 6);
const MiB = 1024 * 1024;
const CLOCK_TICKS = 100;

interface Daemon extends RunningDaemon {
  s3Key?: S3Key;
  put(key: string, body: Buffer): Promise<void>;
}

/** A daemon on a new ec:4+2 pool of six directory disks under `root`: `node FLAGS main.js serve`, through strace when `delayUs` is given. */
async function start(root: string, nodeFlags: string[], threads: number, delayUs: number | null, s3 = false): Promise<Daemon> {
  mkdirSync(root, { recursive: true });
  const disks = Array.from({ length: 6 }, (_, i) => join(root, `d${i}`));
  for (const d of disks) mkdirSync(d);
  const pool = join(root, 'pool');
  const init = cli(['--pool', pool, 'init', '--policy', 'ec:4+2', ...disks.flatMap((d) => ['--disk', d])]);
  if (init.code !== 0) throw new Error(init.stderr);
  const s3Key = s3 ? (cli(['--pool', pool, 's3-key', 'create', '--json']).json as S3Key) : undefined;
  const strace = delayUs === null ? [] : slowFlushes(delayUs)!;
  const daemon = await startDaemon(pool, ['serve', '--log-level', 'warn', ...(s3 ? [] : ['--no-s3'])], { UV_THREADPOOL_SIZE: String(threads) }, [...strace, process.execPath, ...nodeFlags, BIN]);
  const url = new URL(daemon.url);
  const agent = new Agent({ keepAlive: true });
  return Object.assign(daemon, {
    ...(s3Key ? { s3Key } : {}),
    put: (key: string, body: Buffer) => new Promise<void>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, method: 'PUT', path: `/v1/objects/${key}`, agent, headers: { authorization: `Bearer ${daemon.token}`, 'content-type': 'application/octet-stream', 'content-length': body.length } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${key}: ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(body);
    }),
  });
}

/** Full (mark-compact) collections of the daemon's main thread so far, from its /metrics. */
async function fullCollections(d: Daemon): Promise<number> {
  const text = await (await fetch(new URL('/metrics', d.url))).text();
  // The series appears with the first full collection.
  return Number(/^nodejs_gc_duration_seconds_count\{kind="major"\} (\S+)$/m.exec(text)?.[1] ?? 0);
}

function userCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[11]) / CLOCK_TICKS) * 1000;
}

const body = randomBytes(64 * MiB);
const mbps = (ms: number) => Math.round((64 * MiB) / 1e6 / (ms / 1000));

// 1. I/O threads, with slow flushes.
const hasStrace = slowFlushes(0) !== null;
if (!hasStrace) console.log('strace is not installed (apt-get install strace): the I/O thread part is not run\n');
const threadRows: string[][] = [['fsync delay', '4 threads (MB/s)', '16 threads (MB/s)', '16 ÷ 4']];
for (const delay of hasStrace ? DELAYS : []) {
  const root = tempDir('dfs-bench-node-');
  const daemons = new Map<number, Daemon>();
  try {
    for (const threads of [4, 16]) daemons.set(threads, await start(join(root, String(threads)), COMMAND_NODE_FLAGS, threads, delay));
    for (const d of daemons.values()) await d.put('warm', body);
    const ms = new Map<number, number[]>([[4, []], [16, []]]);
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const took = new Map<number, number>();
      for (const threads of round % 2 ? [16, 4] : [4, 16]) {
        const started = performance.now();
        await daemons.get(threads)!.put(`k${round}`, body);
        took.set(threads, performance.now() - started);
        ms.get(threads)!.push(took.get(threads)!);
      }
      ratios.push(took.get(4)! / took.get(16)!);
    }
    threadRows.push([`${delay / 1000} ms`, String(mbps(median(ms.get(4)!))), String(mbps(median(ms.get(16)!))), `${median(ratios).toFixed(2)}×`]);
  } finally {
    for (const d of daemons.values()) await d.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

// 2. V8's old generation: full collections and user CPU per 64 MiB PUT, daemon by daemon.
const sized = COMMAND_NODE_FLAGS;
const unsized = COMMAND_NODE_FLAGS.filter((f) => !f.startsWith('--initial-old-space-size'));
const gc = new Map<string, { perPut: number[]; cpu: number[]; ms: number[] }>([['sized', { perPut: [], cpu: [], ms: [] }], ['unsized', { perPut: [], cpu: [], ms: [] }]]);
for (let i = 0; i < DAEMONS; i++) {
  for (const kind of i % 2 ? ['unsized', 'sized'] : ['sized', 'unsized']) {
    const root = tempDir('dfs-bench-node-');
    const d = await start(root, kind === 'sized' ? sized : unsized, 16, null, true);
    const s3 = s3Client(d.s3Url!, d.s3Key!);
    try {
      await s3.send(new CreateBucketCommand({ Bucket: 'bench' }));
      const s3Put = (key: string) => s3.send(new PutObjectCommand({ Bucket: 'bench', Key: key, Body: body }));
      await s3Put('warm');
      await d.put('warm', body);
      const [gc0, cpu0] = [await fullCollections(d), userCpuMs(d.pid)];
      const times: number[] = [];
      for (let p = 0; p < PUTS; p++) {
        await s3Put(`k${p}`);
        const started = performance.now();
        await d.put(`k${p}`, body);
        times.push(performance.now() - started);
      }
      const [gc1, cpu1] = [await fullCollections(d), userCpuMs(d.pid)];
      const row = gc.get(kind)!;
      row.perPut.push((gc1 - gc0) / (2 * PUTS));
      row.cpu.push((cpu1 - cpu0) / (2 * PUTS));
      row.ms.push(median(times));
    } finally {
      s3.destroy();
      await d.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }
}

if (threadRows.length > 1) {
  console.log(`64 MiB /v1 PUT, ec:4+2 on 6 directory disks, a delay added to every fsync and fdatasync of the daemon (strace); medians of ${ROUNDS} rounds\n`);
  printRows(threadRows);
}
console.log(`\n${PUTS} S3 PUTs and ${PUTS} /v1 PUTs of 64 MiB, in turn, through each of ${DAEMONS} daemons of each kind (a row per daemon): full collections and user CPU per PUT, and the /v1 PUT's rate\n`);
const gcRows: string[][] = [['daemon', 'full collections / PUT', 'user CPU / PUT (ms)', '/v1 MB/s (median)']];
for (const [kind, flags] of [['sized', '--initial-old-space-size=32'], ['unsized', 'V8\'s own sizing']] as const) {
  const row = gc.get(kind)!;
  row.perPut.forEach((n, i) => gcRows.push([`${flags} #${i + 1}`, n.toFixed(1), row.cpu[i]!.toFixed(0), String(mbps(row.ms[i]!))]));
}
printRows(gcRows);
