// npm run bench:io — put and get of a large object (1 GiB by default) under
// ec:4+2 and replication:3, each against a baseline in the same run that
// does the same I/O with no encoding, hashing or catalogue:
//
//   put baseline  reads the same input file extent by extent and writes the
//                 same fragment files (same sizes, same disks) with the same
//                 discipline: temp name, fdatasync, rename, directory fsync,
//                 the same number of extents in flight.
//   get baseline  reads the payloads a get needs (the K data fragments, or one
//                 replica) and writes them to /dev/null, as the get does, with
//                 as many extents in flight as a get (READ_AHEAD).
//   same depth    the same reads, with at most reads.perDiskInFlight of them at
//                 each disk: as many reads in flight as the engine is allowed
//                 (cold only: with the page cache warm depth does not matter).
//
// With the page cache dropped, three more cases run `dynamicfs get` as a
// one-shot process (to /dev/null) against the same-depth baseline: as it
// is, with one disk slowed by fault injection (every read on it delayed
// DFS_BENCH_SLOW_MS; an EC get reads around it from parity), and the fixed
// start-up cost of the command (a get of a 256 KiB object, and `dynamicfs
// --version`) beside that of a bare `node` process.
//
// Both sides run in this process (the engine as the daemon runs it), in
// rounds that alternate which side goes first; the table shows medians and
// the median of per-round ratios (per pair or triple for in-process gets,
// measured GET_PAIRS warm and COLD_TRIPLES cold times a round). Peak RSS is that of a separate
// `dynamicfs put` process of the same object, sampled from /proc.
//
// Before each timed phase the filesystem is synced (`sync`), so that neither
// side pays for write-back and deletions left by the phase before it. Gets
// are measured twice: with the page cache warm from the put (memory-bound:
// copy and hash against copy alone) and, when this process may drop the page
// cache (root on Linux), cold (disk-bound, as on a pool bigger than memory).
//
//   DFS_BENCH_IO_BYTES     object size (default 1 GiB)
//   DFS_BENCH_ROUNDS       rounds (default 3)
//   DFS_BENCH_IO_POLICIES  policies to measure (default ec:4+2,replication:3)
//   DFS_BENCH_GET_PAIRS    warm-cache get pairs per round (default 3)
//   DFS_BENCH_COLD_TRIPLES cold-cache get triples per round (default 3)
//   DFS_BENCH_SLOW_MS      delay of each read on the slowed disk (default 100)
//   DFS_BENCH_VERBOSE      print every round's figures
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { randomBytes as cryptoRandom } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { BIN, cli, tempDir } from '../helpers/cli.js';
import { printRows, median } from './harness.js';
import { Engine, READ_AHEAD, deleteObject, forEachLimited, fileSource, listExtents, lookupObject, putObject, readObject } from '../../src/store/index.js';
import { parsePolicy } from '../../src/pool/index.js';

const SIZE = Number(process.env.DFS_BENCH_IO_BYTES ?? 1024 ** 3);
const ROUNDS = Number(process.env.DFS_BENCH_ROUNDS ?? 3);
const POLICIES = (process.env.DFS_BENCH_IO_POLICIES ?? 'ec:4+2,replication:3').split(',');
const EXTENTS_IN_FLIGHT = 4;
/** Warm-cache get pairs (ours and the baseline's) per round. */
const GET_PAIRS = Number(process.env.DFS_BENCH_GET_PAIRS ?? 3);
/** Cold-cache get triples (ours, the baseline, the same-depth baseline) per round. */
const COLD_TRIPLES = Number(process.env.DFS_BENCH_COLD_TRIPLES ?? 3);
const SLOW_MS = Number(process.env.DFS_BENCH_SLOW_MS ?? 100);
const MiB = 1024 * 1024;

interface Fragment { path: string; bytes: number; payload: number; offset: number; index: number }
interface Extent { fragments: Fragment[]; need: number; size: number }

/** Flushes every filesystem's dirty data and journal, so a timed phase starts from rest. */
function settle(): void {
  execFileSync('sync');
}

/** Empties the page cache (root on Linux only); false when not allowed. */
function dropCaches(): boolean {
  try {
    settle();
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Runs the CLI (or, with BARE_NODE in env, node itself) with its output to /dev/null and extra env. */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const bare = env.BARE_NODE !== undefined;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, bare ? args : [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`))));
  });
}

/** Peak resident memory of a CLI run, sampled from /proc. */
function peakRssOf(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    let peak = 0;
    const timer = setInterval(() => {
      try {
        peak = Math.max(peak, Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024);
      } catch {
        /* exited */
      }
    }, 20);
    child.on('exit', (code) => {
      clearInterval(timer);
      if (code !== 0) reject(new Error(`dynamicfs ${args.join(' ')} exited ${code}: ${stderr}`));
      else resolve(peak);
    });
  });
}

/**
 * The baseline's files: beside the engine's in the same fan-out folders
 * (`<fragment>.base`), so that both sides create files in the same folders,
 * hence the same ext4 inode groups with the same history. Folders of its own
 * would sit in other groups: an ext4 create skips the inodes of its group
 * deleted in the last minutes (recently_deleted, 15% of a put's CPU in a
 * perf profile here), so the side writing where fewer files were just
 * deleted would win for reasons that are not its own.
 */
const baselineFiles: string[] = [];

/** Baseline put: input read extent by extent, the same fragment files written the same way. */
async function baselinePut(extents: Extent[], input: string, extentSize: number): Promise<number> {
  settle();
  const start = process.hrtime.bigint();
  const dirs = new Set<string>();
  const source = await open(input, 'r');
  const parity = cryptoRandom(extentSize);
  const buffers = Array.from({ length: EXTENTS_IN_FLIGHT }, () => Buffer.alloc(extentSize));
  let slot = 0;
  await forEachLimited(extents, EXTENTS_IN_FLIGHT, async (extent, i) => {
    const buffer = buffers[slot++ % EXTENTS_IN_FLIGHT]!;
    await source.read(buffer, 0, extent.size, i * extentSize);
    await Promise.all(extent.fragments.map(async (f) => {
      const path = `${f.path}.base`;
      const tmp = `${dirname(path)}/.${basename(path)}.tmp`;
      const handle = await open(tmp, 'wx');
      // The data fragments' bytes are the input's; parity stands in as ready bytes.
      const from = f.index < extent.need ? buffer.subarray(f.index * f.payload, (f.index + 1) * f.payload) : parity.subarray(0, f.payload);
      let done = 0;
      const header = Buffer.alloc(f.offset);
      while (done < f.bytes) done += (await handle.writev(done === 0 ? [header, from] : [from.subarray(done - f.offset)])).bytesWritten;
      await handle.datasync();
      await handle.close();
      await rename(tmp, path);
      baselineFiles.push(path);
      dirs.add(dirname(path));
    }));
  });
  await source.close();
  await forEachLimited([...dirs], 16, async (dir) => {
    const handle = await open(dir, 'r');
    await handle.sync();
    await handle.close();
  });
  return seconds(start);
}

/** Waits for a place among `bound` reads at the fragment's disk, and a function that frees it. */
function diskLimiter(bound: number): (path: string) => Promise<() => void> {
  const state = new Map<string, { running: number; waiting: (() => void)[] }>();
  return async (path) => {
    const disk = dirname(dirname(path)); // <disk>/<fragments>/<fan-out>/<file>
    let s = state.get(disk);
    if (!s) state.set(disk, (s = { running: 0, waiting: [] }));
    const st = s;
    if (st.running >= bound) await new Promise<void>((resolve) => st.waiting.push(resolve));
    else st.running++;
    return () => {
      const next = st.waiting.shift();
      if (next) next();
      else st.running--;
    };
  };
}

/**
 * Baseline get: the payloads a get needs, read and written to /dev/null,
 * nothing checked; with `perDisk`, at most that many reads at each disk.
 */
async function baselineGet(extents: Extent[], devnull: number, extentSize: number, perDisk = Infinity): Promise<number> {
  settle();
  const limit = diskLimiter(perDisk);
  const start = process.hrtime.bigint();
  const buffers = Array.from({ length: READ_AHEAD + 1 }, () => Buffer.alloc(extentSize + 4096));
  const reads: Promise<Buffer>[] = [];
  let next = 0;
  const issue = () => {
    while (reads.length < READ_AHEAD && next < extents.length) {
      const extent = extents[next]!;
      const buffer = buffers[next++ % buffers.length]!;
      const needed = extent.fragments.filter((f) => f.index < extent.need);
      reads.push(Promise.all(needed.map(async (f, j) => {
        const done = await limit(f.path);
        const handle = await open(f.path, 'r');
        let got = 0;
        while (got < f.payload) {
          const { bytesRead } = await handle.read(buffer, j * f.payload + got, f.payload - got, f.offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        await handle.close();
        done();
      })).then(() => buffer.subarray(0, extent.size)));
    }
  };
  issue();
  while (reads.length > 0) {
    writeSync(devnull, await reads.shift()!);
    issue();
  }
  return seconds(start);
}

function layoutOf(engine: Engine, key: string): Extent[] {
  return [...listExtents(engine, { key })].map((e) => {
    const need = e.policy.startsWith('ec:') ? Number(e.policy.slice(3).split('+')[0]) : 1;
    return {
      need,
      size: e.size,
      fragments: e.fragments.map((f) => {
        const file = readFileSync(f.path!);
        const offset = file.readUInt16LE(10); // header length
        return { path: f.path!, index: f.index, bytes: file.length, offset, payload: file.length - offset };
      }),
    };
  });
}

async function main(): Promise<void> {
  const root = tempDir('dfs-bench-io-');
  const pool = join(root, 'pool');
  const disks = Array.from({ length: 6 }, (_, i) => join(root, `disk${i + 1}`));
  for (const d of disks) mkdirSync(d);
  const init = cli(['--pool', pool, 'init', ...disks.flatMap((d) => ['--disk', d])]);
  if (init.code !== 0) throw new Error(init.stderr);
  const input = join(root, 'input.bin');
  const chunk = cryptoRandom(64 * MiB);
  const fd = openSync(input, 'w');
  for (let done = 0; done < SIZE; done += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, SIZE - done));
  closeSync(fd);
  const devnull = openSync('/dev/null', 'w');
  console.log(`bench:io — object of ${(SIZE / MiB).toFixed(0)} MiB, 6 directory disks on one filesystem, ${ROUNDS} rounds, node ${process.version}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}`);

  const rss: Record<string, number> = {};
  for (const policy of POLICIES) {
    rss[policy] = await peakRssOf(['--pool', pool, 'put', input, '--key', 'rss', '--policy', policy]);
    cli(['--pool', pool, 'rm', 'rss']);
  }

  const engine = Engine.open(pool, { role: 'bench', cacheBytes: 0 });
  const extentSize = engine.extentSize;
  const results: Record<string, { ours: number[]; base: number[]; ratio: number[] }> = {};
  const record = (name: string, ours: number, base: number) => {
    const r = (results[name] ??= { ours: [], base: [], ratio: [] });
    r.ours.push(SIZE / ours / 1e6);
    r.base.push(SIZE / base / 1e6);
    r.ratio.push(base / ours);
    if (process.env.DFS_BENCH_VERBOSE) process.stderr.write(`${name}: ${(SIZE / ours / 1e6).toFixed(0)} against ${(SIZE / base / 1e6).toFixed(0)} MB/s\n`);
  };
  const ourPut = async (key: string, policy: string) => {
    settle();
    const start = process.hrtime.bigint();
    await putObject(engine, await fileSource(input), key, { policy: parsePolicy(policy) });
    return seconds(start);
  };
  const ourGet = async (key: string) => {
    settle();
    const start = process.hrtime.bigint();
    for await (const bytes of readObject(engine, lookupObject(engine, key))) writeSync(devnull, bytes);
    return seconds(start);
  };
  const clearBaseline = () => {
    for (const path of baselineFiles.splice(0)) unlinkSync(path);
  };
  const cold = dropCaches();
  const perDisk = engine.config.reads.perDiskInFlight;
  const kept: { policy: string; key: string; layout: Extent[] }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const policy of POLICIES) {
      const key = `bench-${policy}`;
      // The baseline mirrors the layout of a put: lay one out first (untimed when the baseline goes first).
      let ours: number;
      let base: number;
      if (round % 2 === 0) {
        ours = await ourPut(key, policy);
        base = await baselinePut(layoutOf(engine, key), input, extentSize);
      } else {
        await ourPut(`${key}-layout`, policy);
        const layout = layoutOf(engine, `${key}-layout`);
        await deleteObject(engine, `${key}-layout`);
        base = await baselinePut(layout, input, extentSize);
        ours = await ourPut(key, policy);
      }
      record(`put ${policy}`, ours, base);
      const layout = layoutOf(engine, key);
      // A get is short (a fraction of a second warm): several pairs per round, alternating who goes first.
      for (let pair = 0; pair < GET_PAIRS; pair++) {
        if ((round + pair) % 2 === 0) {
          ours = await ourGet(key);
          base = await baselineGet(layout, devnull, extentSize);
        } else {
          base = await baselineGet(layout, devnull, extentSize);
          ours = await ourGet(key);
        }
        record(`get ${policy}`, ours, base);
      }
      // The same reads from the disks rather than the page cache (what a pool bigger than memory meets):
      // against the baseline as it is, and against one at the engine's depth (reads.perDiskInFlight).
      // A cold get of 1 GiB takes about half a second and its rate swings from one to the next: several triples a round.
      for (let triple = 0; cold && triple < COLD_TRIPLES; triple++) {
        const sides = ['ours', 'base', 'depth'];
        const shift = (round * COLD_TRIPLES + triple) % 3;
        let depth = 0;
        for (const side of [...sides.slice(shift), ...sides.slice(0, shift)]) {
          dropCaches();
          if (side === 'ours') ours = await ourGet(key);
          else if (side === 'base') base = await baselineGet(layout, devnull, extentSize);
          else depth = await baselineGet(layout, devnull, extentSize, perDisk);
        }
        record(`get ${policy} (cold)`, ours, base);
        record(`get ${policy} (cold, same depth)`, ours, depth);
      }
      if (round === ROUNDS - 1) {
        // Kept for the one-shot CLI gets below.
        kept.push({ policy, key, layout });
        clearBaseline();
        continue;
      }
      await deleteObject(engine, key);
      clearBaseline();
    }
    process.stderr.write(`round ${round + 1}/${ROUNDS}\n`);
  }
  // A small object (one extent, not packed: its read goes through a worker as a large one's does), for the command's fixed cost.
  const small = join(root, 'small');
  writeFileSync(small, cryptoRandom(256 * 1024));
  await putObject(engine, await fileSource(small), 'small');
  await engine.close();
  const startup = { node: [] as number[], version: [] as number[], get: [] as number[] };
  if (cold) {
    const timed = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
      const start = process.hrtime.bigint();
      await runCli(args, env);
      return seconds(start);
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const { policy, key, layout } of kept) {
        // The slowed disk: the one holding this object's first data fragment.
        const slowDisk = dirname(dirname(layout[0]!.fragments.find((f) => f.index === 0)!.path));
        const faults = JSON.stringify([{ op: 'read', disk: slowDisk, delayMs: SLOW_MS }]);
        let plain = 0;
        let slowed = 0;
        let depth = 0;
        const sides = ['plain', 'depth', 'slow'];
        for (const side of [...sides.slice(round % 3), ...sides.slice(0, round % 3)]) {
          dropCaches();
          if (side === 'plain') plain = await timed(['--pool', pool, 'get', key]);
          else if (side === 'slow') slowed = await timed(['--pool', pool, 'get', key], { DYNAMICFS_FAULTS: faults });
          else depth = await baselineGet(layout, devnull, extentSize, perDisk);
        }
        record(`CLI get ${policy} (cold, same depth)`, plain, depth);
        // Shown as the plain get's speed over the slowed one's: 1.0 is no slower, 0.83 is 1.2× the time.
        record(`CLI get ${policy} (cold, a disk +${SLOW_MS} ms a read)`, slowed, plain);
      }
      startup.node.push(await timed(['-e', '0'], { BARE_NODE: '1' }));
      startup.version.push(await timed(['--version']));
      startup.get.push(await timed(['--pool', pool, 'get', 'small']));
    }
  }
  const targets: Record<string, number> = { put: 0.7, get: 0.8 };
  const rows = [['case', 'dynamicfs MB/s', 'baseline MB/s', 'ratio', 'target', 'peak RSS (CLI put)']];
  for (const [name, r] of Object.entries(results)) {
    const ratio = median(r.ratio);
    const [op, policy] = name.split(' ') as [string, string];
    if (name.endsWith('(cold)')) {
      rows.push([name, median(r.ours).toFixed(0), median(r.base).toFixed(0), `${ratio.toFixed(2)}×`, 'page cache dropped: disk-bound', '']);
      continue;
    }
    if (name.startsWith('CLI') && name.includes('same depth')) {
      rows.push([name, median(r.ours).toFixed(0), median(r.base).toFixed(0), `${ratio.toFixed(2)}×`, 'one-shot: start-up included', '']);
      continue;
    }
    if (name.includes('same depth')) {
      rows.push([name, median(r.ours).toFixed(0), median(r.base).toFixed(0), `${ratio.toFixed(2)}×`, `≥ 0.9× ${ratio >= 0.9 ? 'met' : 'MISSED'}`, '']);
      continue;
    }
    if (name.includes('a disk +')) {
      const times = 1 / ratio;
      rows.push([name, median(r.ours).toFixed(0), median(r.base).toFixed(0), `${times.toFixed(2)}× the time`, `≤ 1.2× ${times <= 1.2 ? 'met' : 'MISSED'}`, '']);
      continue;
    }
    rows.push([name, median(r.ours).toFixed(0), median(r.base).toFixed(0), `${ratio.toFixed(2)}×`, `≥ ${targets[op]}× ${ratio >= targets[op]! ? 'met' : 'MISSED'}`, op === 'put' ? `${(rss[policy]! / MiB).toFixed(0)} MiB` : '']);
  }
  printRows(rows);
  if (!cold) console.log('cold gets not measured: dropping the page cache needs root');
  else {
    const ms = (v: number[]) => (median(v) * 1000).toFixed(0);
    console.log(`fixed cost of a one-shot get (a 256 KiB object): ${ms(startup.get)} ms; \`dynamicfs --version\` ${ms(startup.version)} ms (loading the command's modules); a bare node process ${ms(startup.node)} ms`);
  }
  const peak = Math.max(...Object.values(rss));
  console.log(`peak RSS of a dynamicfs put of ${(SIZE / MiB).toFixed(0)} MiB: ${(peak / MiB).toFixed(0)} MiB (target ≤ 256 MiB: ${peak <= 256 * MiB ? 'met' : 'MISSED'})`);
  closeSync(devnull);
  rmSync(root, { recursive: true, force: true });
}

await main();
