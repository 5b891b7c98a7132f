// npm run bench:io-threads — what the daemon's 16 I/O threads buy on disks
// whose flushes are slow. Fragment I/O (open, writev, fdatasync, rename, a
// folder's fsync) runs on libuv's thread pool; with libuv's default of 4
// threads, only four fsyncs can wait at once, across every disk. Directory
// disks on this machine's one virtual disk flush in well under a millisecond,
// so strace (--seccomp-bpf: only the two calls are traced) adds a delay to
// every fsync and fdatasync of the daemon, as a disk with a slower flush would
// take. Two daemons on two pools (ec:4+2, six directory disks each), one with
// UV_THREADPOOL_SIZE=4 and one with 16, take the same 64 MiB /v1 PUTs in
// alternating order; the table gives medians and the median of the per-round
// ratios.
//
//   DFS_BENCH_ROUNDS    rounds per delay (default 5)
//   DFS_BENCH_DELAYS_US the added delays in microseconds (default 0,4000)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BIN, cli, tempDir } from '../helpers/cli.js';
import { waitFor } from '../helpers/daemon.js';
import { median, printRows } from './harness.js';

const ROUNDS = Number(process.env.DFS_BENCH_ROUNDS ?? 5);
const DELAYS = (process.env.DFS_BENCH_DELAYS_US ?? '0,4000').split(',').map(Number);
const SIZES = [4, 16];
const MiB = 1024 * 1024;

if (spawnSync('strace', ['-V']).status !== 0) {
  console.log('bench:io-threads needs strace (apt-get install strace); not run');
  process.exit(0);
}

interface Daemon {
  child: ChildProcess;
  pid: number;
  put(key: string, body: Buffer): Promise<void>;
}

async function startDaemon(root: string, threads: number, delayUs: number): Promise<Daemon> {
  const disks = Array.from({ length: 6 }, (_, i) => join(root, `d${i}`));
  for (const d of disks) mkdirSync(d);
  const pool = join(root, 'pool');
  const init = cli(['--pool', pool, 'init', '--policy', 'ec:4+2', ...disks.flatMap((d) => ['--disk', d])]);
  if (init.code !== 0) throw new Error(init.stderr);
  const child = spawn('strace', [
    '-f', '-qq', '--seccomp-bpf', '-o', '/dev/null', '-e', 'trace=fsync,fdatasync', '-e', `inject=fsync,fdatasync:delay_enter=${delayUs}`,
    process.execPath, '--no-memory-reducer', BIN, '--pool', pool, 'serve', '--port', '0', '--no-s3', '--log-level', 'warn',
  ], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, UV_THREADPOOL_SIZE: String(threads) } });
  const info = await waitFor('daemon.json', () => {
    if (child.exitCode !== null) throw new Error(`the daemon exited ${child.exitCode}`);
    try {
      return JSON.parse(readFileSync(join(pool, 'run', 'daemon.json'), 'utf8')) as { url: string; pid: number };
    } catch {
      return null;
    }
  });
  const url = new URL(info.url);
  const token = readFileSync(join(pool, 'token'), 'utf8').trim();
  const agent = new Agent({ keepAlive: true });
  return {
    child, pid: info.pid,
    put: (key, body) => new Promise((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, method: 'PUT', path: `/v1/objects/${key}`, agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': body.length } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${key}: ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(body);
    }),
  };
}

async function stop(d: Daemon): Promise<void> {
  const exited = new Promise((resolve) => d.child.once('exit', resolve));
  process.kill(d.pid, 'SIGTERM');
  await exited;
}

const body = randomBytes(64 * MiB);
const rows: string[][] = [['fsync delay', '4 threads (MB/s)', '16 threads (MB/s)', '16 ÷ 4']];
for (const delay of DELAYS) {
  const root = tempDir('dfs-bench-io-threads-');
  const daemons = new Map<number, Daemon>();
  try {
    for (const threads of SIZES) {
      mkdirSync(join(root, String(threads)));
      daemons.set(threads, await startDaemon(join(root, String(threads)), threads, delay));
    }
    for (const d of daemons.values()) await d.put('warm', body);
    const ms = new Map<number, number[]>(SIZES.map((s) => [s, []]));
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 ? [...SIZES].reverse() : SIZES;
      const took = new Map<number, number>();
      for (const threads of order) {
        const started = performance.now();
        await daemons.get(threads)!.put(`k${round}`, body);
        took.set(threads, performance.now() - started);
        ms.get(threads)!.push(took.get(threads)!);
      }
      ratios.push(took.get(4)! / took.get(16)!);
    }
    const mbps = (threads: number) => Math.round((64 * MiB) / 1e6 / (median(ms.get(threads)!) / 1000));
    rows.push([`${delay / 1000} ms`, String(mbps(4)), String(mbps(16)), `${median(ratios).toFixed(2)}×`]);
  } finally {
    for (const d of daemons.values()) await stop(d);
    rmSync(root, { recursive: true, force: true });
  }
}
console.log(`\n64 MiB /v1 PUT, ec:4+2 on 6 directory disks, a delay added to every fsync and fdatasync of the daemon (strace); medians of ${ROUNDS} rounds\n`);
printRows(rows);
