// npm run bench:io — put and get of a large object (1 GiB by default) under
// ec:4+2 and replication:3 through the real CLI, each against a baseline in
// the same run that writes the same fragment files (same sizes, same disks,
// same temp+fdatasync+rename+directory-fsync discipline, same concurrency)
// or reads the same fragment payloads, with no encoding, hashing or
// catalogue. Rounds alternate which side goes first; the table shows medians
// and the median of per-round ratios. Peak RSS of the put process is sampled
// from /proc.
//
//   DFS_BENCH_IO_BYTES  object size (default 1 GiB)
//   DFS_BENCH_ROUNDS    rounds (default 3)
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { randomBytes as cryptoRandom } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { BIN, cli, tempDir } from '../helpers/cli.js';

const SIZE = Number(process.env.DFS_BENCH_IO_BYTES ?? 1024 ** 3);
const ROUNDS = Number(process.env.DFS_BENCH_ROUNDS ?? 3);
const EXTENTS_IN_FLIGHT = 4;
const MiB = 1024 * 1024;

interface Fragment { path: string; bytes: number; payload: number; offset: number; index: number }
interface Extent { fragments: Fragment[]; need: number; policy: string }

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Runs the CLI, sampling the child's resident memory; returns seconds and peak RSS in bytes. */
function timedCli(args: string[], stdoutTo: number | 'ignore' = 'ignore'): Promise<{ seconds: number; peakRss: number }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', stdoutTo, 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    let peak = 0;
    const sample = () => {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
        peak = Math.max(peak, hwm);
      } catch {
        /* exited */
      }
    };
    const timer = setInterval(sample, 25);
    child.on('exit', (code) => {
      clearInterval(timer);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (code !== 0) reject(new Error(`dynamicfs ${args.join(' ')} exited ${code}: ${stderr}`));
      else resolve({ seconds, peakRss: peak });
    });
  });
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** The baseline write: the same files, sizes and fsync discipline as a put, from a ready buffer. */
async function baselinePut(extents: Extent[], source: Buffer): Promise<number> {
  const start = process.hrtime.bigint();
  const dirs = new Set<string>();
  await forEachLimited(extents, EXTENTS_IN_FLIGHT, async (extent) => {
    await Promise.all(extent.fragments.map(async (f) => {
      const path = f.path.replace('/fragments/', '/baseline/');
      const tmp = `${dirname(path)}/.${basename(path)}.tmp`;
      const handle = await open(tmp, 'w');
      let done = 0;
      while (done < f.bytes) done += (await handle.write(source, 0, Math.min(source.length, f.bytes - done))).bytesWritten;
      await handle.datasync();
      await handle.close();
      await rename(tmp, path);
      dirs.add(dirname(path));
    }));
  });
  await forEachLimited([...dirs], 16, async (dir) => {
    const handle = await open(dir, 'r');
    await handle.sync();
    await handle.close();
  });
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** The baseline read: the payloads a get needs (K data fragments, or one replica), nothing checked. */
async function baselineGet(extents: Extent[]): Promise<number> {
  const start = process.hrtime.bigint();
  const buffers = Array.from({ length: EXTENTS_IN_FLIGHT }, () => Buffer.alloc(2 * MiB));
  let slot = 0;
  await forEachLimited(extents, EXTENTS_IN_FLIGHT, async (extent) => {
    const buffer = buffers[slot++ % EXTENTS_IN_FLIGHT]!;
    const needed = extent.fragments.filter((f) => f.index < extent.need);
    let at = 0;
    await Promise.all(needed.map(async (f) => {
      const handle = await open(f.path, 'r');
      const into = at;
      at += f.payload;
      let got = 0;
      while (got < f.payload) {
        const { bytesRead } = await handle.read(buffer, into + got, f.payload - got, f.offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      await handle.close();
    }));
  });
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function layoutOf(pool: string, key: string): Extent[] {
  const r = cli(['--pool', pool, 'list-extents', '--key', key, '--json']);
  const extents = r.json.extents as { policy: string; fragments: { path: string; index: number }[] }[];
  return extents.map((e) => {
    const need = e.policy.startsWith('ec:') ? Number(e.policy.slice(3).split('+')[0]) : 1;
    return {
      policy: e.policy,
      need,
      fragments: e.fragments.map((f) => {
        const bytes = readFileSync(f.path).length; // (setup only) header + payload
        const offset = readFileSync(f.path).readUInt16LE(10); // header length
        return { path: f.path, index: f.index, bytes, offset, payload: bytes - offset };
      }),
    };
  });
}

async function main(): Promise<void> {
  const root = tempDir('dfs-bench-io-');
  const pool = join(root, 'pool');
  const disks = Array.from({ length: 6 }, (_, i) => join(root, `disk${i + 1}`));
  for (const d of disks) {
    mkdirSync(d);
    for (let i = 0; i < 256; i++) mkdirSync(join(d, 'baseline', i.toString(16).padStart(2, '0')), { recursive: true });
  }
  const init = cli(['--pool', pool, 'init', ...disks.flatMap((d) => ['--disk', d])]);
  if (init.code !== 0) throw new Error(init.stderr);
  const input = join(root, 'input.bin');
  const chunk = cryptoRandom(64 * MiB);
  const fd = openSync(input, 'w');
  for (let done = 0; done < SIZE; done += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, SIZE - done));
  closeSync(fd);
  const source = cryptoRandom(4 * MiB);
  const devnull = openSync('/dev/null', 'w');
  console.log(`bench:io — object of ${(SIZE / MiB).toFixed(0)} MiB, 6 directory disks on one filesystem, ${ROUNDS} rounds, node ${process.version}`);

  const results: Record<string, { ours: number[]; base: number[]; ratio: number[]; rss: number[] }> = {};
  const record = (name: string, ours: number, base: number, rss = 0) => {
    const r = (results[name] ??= { ours: [], base: [], ratio: [], rss: [] });
    r.ours.push(SIZE / ours / 1e6);
    r.base.push(SIZE / base / 1e6);
    r.ratio.push(base / ours);
    if (rss) r.rss.push(rss);
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const policy of ['ec:4+2', 'replication:3']) {
      const key = `bench-${policy}`;
      const oursFirst = round % 2 === 0;
      // put: ours needs to run first once to know the layout the baseline mirrors.
      let put!: { seconds: number; peakRss: number };
      let basePut = 0;
      let extents: Extent[] = [];
      if (!oursFirst && round > 0) {
        // Lay out with a throwaway put, then time the baseline first and ours second.
        await timedCli(['--pool', pool, 'put', input, '--key', key, '--policy', policy]);
        extents = layoutOf(pool, key);
        cli(['--pool', pool, 'rm', key]);
        basePut = await baselinePut(extents, source);
        put = await timedCli(['--pool', pool, 'put', input, '--key', key, '--policy', policy]);
      } else {
        put = await timedCli(['--pool', pool, 'put', input, '--key', key, '--policy', policy]);
        extents = layoutOf(pool, key);
        basePut = await baselinePut(extents, source);
      }
      extents = layoutOf(pool, key);
      record(`put ${policy}`, put.seconds, basePut, put.peakRss);
      let get: { seconds: number; peakRss: number };
      let baseGet: number;
      if (oursFirst) {
        get = await timedCli(['--pool', pool, 'get', key], devnull);
        baseGet = await baselineGet(extents);
      } else {
        baseGet = await baselineGet(extents);
        get = await timedCli(['--pool', pool, 'get', key], devnull);
      }
      record(`get ${policy}`, get.seconds, baseGet, get.peakRss);
      cli(['--pool', pool, 'rm', key]);
      for (const d of disks) for (let i = 0; i < 256; i++) {
        const dir = join(d, 'baseline', i.toString(16).padStart(2, '0'));
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir);
      }
    }
    process.stderr.write(`round ${round + 1}/${ROUNDS}\n`);
  }
  const targets: Record<string, number> = { put: 0.7, get: 0.8 };
  const rows = [['case', 'dynamicfs MB/s', 'baseline MB/s', 'ratio', 'target', 'peak RSS MiB']];
  for (const [name, r] of Object.entries(results)) {
    const ratio = median(r.ratio);
    const target = targets[name.split(' ')[0]!]!;
    rows.push([name, median(r.ours).toFixed(0), median(r.base).toFixed(0), `${ratio.toFixed(2)}×`, `≥ ${target}× ${ratio >= target ? 'met' : 'MISSED'}`, (Math.max(...r.rss) / MiB).toFixed(0)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(rows[0]!));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows.slice(1)) console.log(line(row));
  const putRss = Math.max(...Object.entries(results).filter(([n]) => n.startsWith('put')).flatMap(([, r]) => r.rss));
  console.log(`peak RSS during put: ${(putRss / MiB).toFixed(0)} MiB (target ≤ 256 MiB: ${putRss <= 256 * MiB ? 'met' : 'MISSED'})`);
  closeSync(devnull);
  rmSync(root, { recursive: true, force: true });
}

await main();
