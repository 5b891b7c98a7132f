// npm run bench:small: many small objects through a real daemon, against the
// bare way of storing the same fragments, measured in the same run.
//
// - PUT and GET rates at 16 clients for 1 KiB, 4 KiB and 64 KiB objects under
//   ec:4+2. The bare way (the peer), in this process with the same libuv
//   thread count: each object's six fragments (a 128-byte header and a
//   quarter of the object, rounded up to 16) written as files with write,
//   fdatasync and rename, then one fsync per directory; a GET reads the four
//   data fragments. Rounds alternate ours and the peer; ratios are medians of
//   per-round ratios.
// - Space on disk (allocated blocks of every file under the disks, plus the
//   catalogue) over the payload: right after the PUTs, once the idle daemon
//   has merged the small packs, and after deleting half and gc.
// - The daemon's CPU per PUT (utime+stime of /proc/PID/stat, all threads).
// - A lone client's PUT latency (p50, p99), packing on against packing off.
// - `ls --json` time and the CLI's peak RSS (VmHWM) at 10k, 100k and 1M rows.
//
// DFS_BENCH_OBJECTS (per round, default 2000), DFS_BENCH_ROUNDS (3),
// DFS_BENCH_SIZES ("1024,4096,65536"), DFS_BENCH_PACKING (JSON of packing
// options for the measured pools) and DFS_BENCH_LS ("10000,100000,1000000";
// empty: no listing) scale it.
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { cli, tempDir } from '../helpers/cli.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { cpuSeconds, request as httpRequest } from '../helpers/memory-load.js';
import { median } from './harness.js';

const OBJECTS = Number(process.env.DFS_BENCH_OBJECTS ?? 2000);
const ROUNDS = Number(process.env.DFS_BENCH_ROUNDS ?? 3);
const CLIENTS = 16;
const SIZES = (process.env.DFS_BENCH_SIZES ?? '1024,4096,65536').split(',').map(Number);
const LS_ROWS = (process.env.DFS_BENCH_LS ?? '10000,100000,1000000').split(',').filter(Boolean).map(Number);
const BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const PEAK = fileURLToPath(new URL('./peak-rss.js', import.meta.url));

const root = tempDir('dfs-bench-small-');
const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });

const request = (url: string, token: string, method: string, body?: Buffer) => httpRequest(agent, new URL(url), method, token, body);

/** Runs `n` jobs from `clients` closed loops; returns per-job latencies (ms) and the seconds it took. */
async function closedLoops(n: number, clients: number, job: (i: number) => Promise<void>): Promise<{ seconds: number; latencies: number[] }> {
  let next = 0;
  const latencies: number[] = [];
  const start = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    for (let i = next++; i < n; i = next++) {
      const t = performance.now();
      await job(i);
      latencies.push(performance.now() - t);
    }
  }));
  return { seconds: (performance.now() - start) / 1000, latencies };
}

function makePool(name: string, packing?: Record<string, number>): { pool: string; disks: string[] } {
  const dir = join(root, name);
  const disks = Array.from({ length: 6 }, (_, i) => join(dir, `d${i}`));
  for (const d of disks) mkdirSync(d, { recursive: true });
  const pool = join(dir, 'pool');
  const r = cli(['--pool', pool, 'init', '--policy', 'ec:4+2', ...disks.flatMap((d) => ['--disk', d])]);
  if (r.code !== 0) throw new Error(r.stderr);
  if (packing) {
    const config = JSON.parse(readFileSync(join(pool, 'pool.json'), 'utf8')) as { packing: Record<string, number> };
    config.packing = { ...config.packing, ...packing };
    writeFileSync(join(pool, 'pool.json'), JSON.stringify(config, null, 2));
  }
  return { pool, disks };
}

/** Allocated bytes of every file under the folders. */
function allocated(paths: string[]): number {
  let total = 0;
  const walk = (p: string) => {
    const s = statSync(p);
    if (s.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
    else total += s.blocks * 512;
  };
  for (const p of paths) walk(p);
  return total;
}

/** The bare way: six fragment files per object, each written, fdatasynced and renamed; then each directory fsynced. */
class Bare {
  readonly dirs: string[];
  constructor(name: string) {
    this.dirs = Array.from({ length: 6 }, (_, i) => join(root, name, `d${i}`));
    for (const d of this.dirs) mkdirSync(d, { recursive: true });
  }

  async put(key: string, body: Buffer): Promise<void> {
    const quarter = ((Math.ceil(body.length / 4) + 15) & ~15) >>> 0;
    const header = Buffer.alloc(128);
    await Promise.all(this.dirs.map(async (dir, i) => {
      const payload = i < 4 ? body.subarray(i * quarter, (i + 1) * quarter) : body.subarray(0, quarter);
      const path = join(dir, key);
      const handle = await open(`${path}.tmp`, 'w');
      try {
        await handle.writev([header, payload, Buffer.alloc(Math.max(0, quarter - payload.length))]);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(`${path}.tmp`, path);
    }));
    await Promise.all(this.dirs.map(async (dir) => {
      const handle = await open(dir, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }));
  }

  async get(key: string): Promise<number> {
    const parts = await Promise.all(this.dirs.slice(0, 4).map(async (dir) => {
      const handle = await open(join(dir, key), 'r');
      try {
        return await handle.readFile();
      } finally {
        await handle.close();
      }
    }));
    return parts.reduce((n, p) => n + p.length - 128, 0);
  }
}

const fmt = (x: number, d = 2) => x.toFixed(d);
const pct = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!;

async function ratesFor(size: number): Promise<Record<string, string>> {
  // DFS_BENCH_PACKING (JSON, e.g. '{"windowMs":5}') sets the measured pools' packing options, to compare choices.
  const { pool, disks } = makePool(`pool-${size}`, process.env.DFS_BENCH_PACKING ? (JSON.parse(process.env.DFS_BENCH_PACKING) as Record<string, number>) : undefined);
  const daemon: RunningDaemon = await startDaemon(pool, ['serve', '--log-level', 'warn']);
  const bare = new Bare(`bare-${size}`);
  const bodies = Array.from({ length: 8 }, () => randomBytes(size));
  const url = (key: string) => `${daemon.url}/v1/objects/${encodeURIComponent(key)}`;
  const putRatios: number[] = [];
  const getRatios: number[] = [];
  const ours: number[] = [];
  const peers: number[] = [];
  let cpu = 0;
  let puts = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const runOurs = async () => {
        const before = cpuSeconds(daemon.child.pid!);
        const r = await closedLoops(OBJECTS, CLIENTS, async (i) => {
          const answer = await request(url(`r${round}/${i}`), daemon.token, 'PUT', bodies[i % 8]);
          if (answer.status !== 200) throw new Error(`PUT: ${answer.status}`);
        });
        cpu += cpuSeconds(daemon.child.pid!) - before;
        puts += OBJECTS;
        return OBJECTS / r.seconds;
      };
      const runBare = async () => OBJECTS / (await closedLoops(OBJECTS, CLIENTS, (i) => bare.put(`r${round}-${i}`, bodies[i % 8]!))).seconds;
      let a: number;
      let b: number;
      if (round % 2 === 0) {
        a = await runOurs();
        b = await runBare();
      } else {
        b = await runBare();
        a = await runOurs();
      }
      ours.push(a);
      peers.push(b);
      putRatios.push(a / b);
      const gets = Math.min(OBJECTS, 2000);
      const getOurs = gets / (await closedLoops(gets, CLIENTS, async (i) => {
        const answer = await request(url(`r${round}/${(i * 7919) % OBJECTS}`), daemon.token, 'GET');
        if (answer.status !== 200 || answer.bytes !== size) throw new Error(`GET: ${answer.status}, ${answer.bytes} bytes`);
      })).seconds;
      const getBare = gets / (await closedLoops(gets, CLIENTS, async (i) => void (await bare.get(`r${round}-${(i * 7919) % OBJECTS}`)))).seconds;
      getRatios.push(getOurs / getBare);
      process.stderr.write(`${size} B round ${round + 1}/${ROUNDS}: PUT ${fmt(a, 0)}/s vs bare ${fmt(b, 0)}/s, GET ${fmt(getOurs, 0)}/s vs bare ${fmt(getBare, 0)}/s\n`);
    }
    // How many puts each group commit carried (the daemon's own counters).
    const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
    const counter = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    const perGroup = counter('dynamicfs_pack_objects_written_total') / counter('dynamicfs_pack_groups_written_total');
    const payload = ROUNDS * OBJECTS * size;
    const onDisk = () => allocated(disks) + allocated([join(pool, 'catalog.db'), join(pool, 'catalog.db-wal')].filter((p) => { try { statSync(p); return true; } catch { return false; } }));
    const space = onDisk() / payload;
    // The daemon merges small packs once the pool has been idle for a while: wait until the pack count settles.
    const packs = async () => Number(/^dynamicfs_packs (\S+)$/m.exec(await (await fetch(`${daemon.url}/metrics`)).text())?.[1] ?? NaN);
    let last = await packs();
    for (let waited = 0; waited < 90_000; waited += 12_000) {
      await new Promise((r) => setTimeout(r, 12_000));
      const now = await packs();
      if (now === last && waited > 0) break;
      last = now;
    }
    const idle = onDisk() / payload;
    // Delete half, gc, and measure again.
    await closedLoops(ROUNDS * OBJECTS, CLIENTS, async (j) => {
      if (j % 2 === 1) return;
      const round = Math.floor(j / OBJECTS);
      const answer = await request(url(`r${round}/${j % OBJECTS}`), daemon.token, 'DELETE');
      if (answer.status !== 200) throw new Error(`DELETE: ${answer.status}`);
    });
    await new Promise((r) => setTimeout(r, 1200));
    const gc = cli(['--pool', pool, 'gc', '--grace', '0', '--json']);
    if (gc.code !== 0) throw new Error(gc.stderr);
    if (process.env.DFS_BENCH_DEBUG) process.stderr.write(`gc: ${gc.stdout}\n`);
    const after = (allocated(disks) + allocated([join(pool, 'catalog.db')])) / (payload / 2);
    return {
      size: `${size} B`, 'PUT/s': fmt(median(ours), 0), 'bare PUT/s': fmt(median(peers), 0), 'PUT ratio': fmt(median(putRatios)),
      'GET ratio': fmt(median(getRatios)), 'CPU ms/PUT': fmt((cpu / puts) * 1000), 'PUTs/group': Number.isFinite(perGroup) ? fmt(perGroup, 1) : '-', space: `${fmt(space)}×`, 'space, idle': `${fmt(idle)}×`, 'space after rm half + gc': `${fmt(after)}×`,
    };
  } finally {
    await daemon.stop();
  }
}

/**
 * A lone client's PUT latency, packing on and off: two daemons side by side,
 * rounds of 100 PUTs alternating between them (the first round of each left
 * out), so that drift hits both.
 */
async function loneLatency(): Promise<Record<string, string>[]> {
  const modes = [['packed', undefined], ['not packed', { maxObjectBytes: 0 }]] as const;
  const daemons = [];
  for (const [name, packing] of modes) daemons.push(await startDaemon(makePool(`lone-${name.replace(' ', '-')}`, packing).pool, ['serve', '--log-level', 'warn']));
  const body = randomBytes(4096);
  const latencies: number[][] = modes.map(() => []);
  try {
    for (let round = 0; round < 8; round++) {
      for (let m = 0; m < modes.length; m++) {
        const d = daemons[(m + round) % modes.length]!;
        const r = await closedLoops(100, 1, async (i) => {
          const answer = await request(`${d.url}/v1/objects/lone-${round}-${i}`, d.token, 'PUT', body);
          if (answer.status !== 200) throw new Error(`PUT: ${answer.status}`);
        });
        if (round > 0) latencies[(m + round) % modes.length]!.push(...r.latencies);
      }
    }
  } finally {
    for (const d of daemons) await d.stop();
  }
  return modes.map(([name], i) => ({ 'lone 4 KiB PUT': name, 'p50 ms': fmt(pct(latencies[i]!, 0.5)), 'p99 ms': fmt(pct(latencies[i]!, 0.99)) }));
}

/** `ls --json` over a catalogue of `rows` objects, created directly; its time and the CLI's peak RSS. */
function listing(rows: number): Record<string, string> {
  const { pool } = makePool(`ls-${rows}`);
  const db = new Database(join(pool, 'catalog.db'));
  const insert = db.prepare('INSERT INTO objects (id, key, size, policy, checksum, extents, created_at) VALUES (?, ?, 4096, \'ec:4+2\', \'0000000000000000\', 1, ?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(i.toString(16).padStart(32, '0'), `dir${i % 100}/object-${i.toString().padStart(8, '0')}`, Date.now());
  })();
  db.close();
  // Its output goes to a file (as to a pipe read by another program), counted afterwards.
  const out = join(root, `ls-${rows}.json`);
  const fd = openSync(out, 'w');
  const start = performance.now();
  const r = spawnSync(process.execPath, ['--import', PEAK, BIN, '--pool', pool, 'ls', '--json'], { encoding: 'utf8', stdio: ['ignore', fd, 'pipe'] });
  const seconds = (performance.now() - start) / 1000;
  closeSync(fd);
  if (r.status !== 0) throw new Error(r.stderr);
  const text = readFileSync(out, 'utf8');
  const listed = (text.match(/"key":/g) ?? []).length;
  rmSync(out);
  if (listed !== rows || !text.endsWith(']}\n')) throw new Error(`ls listed ${listed} of ${rows}`);
  const peak = Number(/peak-rss-kib (\d+)/.exec(r.stderr)?.[1] ?? 0) * 1024;
  rmSync(join(root, `ls-${rows}`), { recursive: true, force: true });
  return { 'ls --json rows': String(rows), seconds: fmt(seconds), 'CLI peak RSS MiB': fmt(peak / 1048576, 0) };
}

function print(rows: Record<string, string>[]): void {
  const headers = Object.keys(rows[0]!);
  const widths = headers.map((h) => Math.max(h.length, ...rows.map((r) => (r[h] ?? '').length)));
  process.stdout.write(`${headers.map((h, i) => h.padEnd(widths[i]!)).join('  ')}\n`);
  for (const r of rows) process.stdout.write(`${headers.map((h, i) => (r[h] ?? '').padEnd(widths[i]!)).join('  ')}\n`);
  process.stdout.write('\n');
}

try {
  process.stdout.write(`bench:small: ${OBJECTS} objects a round, ${ROUNDS} rounds, ${CLIENTS} clients, ec:4+2, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}\n\n`);
  const rates = [];
  for (const size of SIZES) rates.push(await ratesFor(size));
  print(rates);
  print(await loneLatency());
  if (LS_ROWS.length) print(LS_ROWS.map(listing));
} finally {
  agent.destroy();
  rmSync(root, { recursive: true, force: true });
}
