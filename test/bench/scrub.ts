// npm run bench:scrub — the two figures of issue 5, each against a peer in
// the same run (interleaved rounds, medians):
//
// 1. Throughput: a one-shot scrub at `high` of an idle ec:4+2 pool against one
//    thread reading the same fragment files into a reused buffer with no
//    checks. Twice: with the page cache warm (memory-bound) and, when this
//    process may drop the page cache (root on Linux), cold (disk-bound, what a
//    scrub of a real pool meets). Target ≥ 0.8×.
// 2. Foreground impact: a real daemon on loopback serves GETs of 1 MiB objects
//    to a steady closed-loop load (no extent cache, so every GET reads and
//    checks fragments) while its background scrubber runs at low, medium and
//    high over the rest of the pool, restarted whenever a pass ends; the p99
//    of each is divided by the p99 with the scrubber stopped. Targets ≤ 1.05×,
//    ≤ 1.15×, ≤ 1.5×. A second stopped phase (the A/A control) is measured
//    the same way: its ratio shows how far p99 moves here with no scrubber.
//
//   DFS_BENCH_SCRUB_BYTES   bytes of objects to scrub (default 512 MiB)
//   DFS_BENCH_ROUNDS        rounds (default 10)
//   DFS_BENCH_SECONDS       seconds of load per phase and round (default 3; short phases, many rounds: drift on the machine falls on every phase alike)
//   DFS_BENCH_CONNECTIONS   concurrent GET loops (default 4)
//   DFS_BENCH_PARTS         throughput,foreground (default both)
//   DFS_BENCH_PHASES        foreground phases besides idle (default control,low,medium,high)
import { closeSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, chunkSource, putObject } from '../../src/store/index.js';
import { ScrubService } from '../../src/scrub/index.js';
import { fragmentFiles, tempDir } from '../helpers/cli.js';
import { startDaemon } from '../helpers/daemon.js';
import { closedLoopGets, median, percentile, printRows } from './harness.js';

const MiB = 1024 * 1024;
const BYTES = Number(process.env.DFS_BENCH_SCRUB_BYTES ?? 512 * MiB);
const ROUNDS = Number(process.env.DFS_BENCH_ROUNDS ?? 10);
const SECONDS = Number(process.env.DFS_BENCH_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.DFS_BENCH_CONNECTIONS ?? 4);
const FOREGROUND_OBJECTS = 64;
const PARTS = (process.env.DFS_BENCH_PARTS ?? 'throughput,foreground').split(',');

const root = tempDir('dfs-bench-scrub-');
const poolDir = join(root, 'pool');
const disks = Array.from({ length: 6 }, (_, i) => join(root, `d${i}`));
for (const d of disks) mkdirSync(d);

function pattern(seed: number): Uint8Array {
  const chunk = new Uint8Array(MiB);
  for (let i = 0; i < chunk.length; i++) chunk[i] = ((i + seed) * 2654435761) >>> 24;
  return chunk;
}

async function store(engine: Engine, key: string, bytes: number, seed: number): Promise<void> {
  const chunk = pattern(seed);
  async function* chunks() {
    for (let done = 0; done < bytes; done += chunk.length) yield chunk;
  }
  await putObject(engine, chunkSource(chunks(), bytes), key);
}

function readAll(list: string[]): number {
  const buf = Buffer.allocUnsafe(MiB);
  let n = 0;
  for (const p of list) {
    const fd = openSync(p, 'r');
    for (let got; (got = readSync(fd, buf, 0, buf.length, null)) > 0;) n += got;
    closeSync(fd);
  }
  return n;
}

/** Empties the page cache (root on Linux only); false when not allowed. */
function dropCaches(): boolean {
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

async function throughput(engine: Engine): Promise<string[][]> {
  const files = fragmentFiles(disks);
  const service = new ScrubService(engine, { tickMs: 0 });
  const scrub = async (): Promise<number> => {
    const t = performance.now();
    const s = await service.runOnce({ intensity: 'high', dryRun: true });
    if (s.issuesFound !== 0) throw new Error('issues in a clean pool');
    return s.bytesScanned / ((performance.now() - t) / 1000);
  };
  const read = (): number => {
    const t = performance.now();
    const bytes = readAll(files);
    return bytes / ((performance.now() - t) / 1000);
  };
  const cold = dropCaches();
  const modes = cold ? ['warm', 'cold'] as const : ['warm'] as const;
  const samples = { warm: { scrub: [] as number[], read: [] as number[] }, cold: { scrub: [] as number[], read: [] as number[] } };
  await scrub(); // warm up the JIT, the workers and the page cache
  readAll(files);
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of modes) {
      const order = r % 2 ? ['read', 'scrub'] as const : ['scrub', 'read'] as const;
      for (const who of order) {
        if (mode === 'cold') dropCaches();
        else readAll(files);
        samples[mode][who].push(who === 'scrub' ? await scrub() : read());
      }
    }
    process.stderr.write(`throughput round ${r + 1}/${ROUNDS}\n`);
  }
  await service.close();
  const mb = (x: number) => (x / 1e6).toFixed(0);
  const rows = [['page cache', 'scrub --intensity high MB/s', 'read the same files MB/s', 'ratio', 'target']];
  for (const mode of modes) {
    const ratios = samples[mode].scrub.map((s, i) => s / samples[mode].read[i]!);
    rows.push([mode, mb(median(samples[mode].scrub)), mb(median(samples[mode].read)), `${median(ratios).toFixed(2)}x`, '>= 0.8x']);
  }
  if (!cold) rows.push(['cold', 'not measured: dropping the page cache needs root', '', '', '']);
  console.log(`\nscrub throughput, ec:4+2, ${BYTES / MiB} MiB of objects, ${files.length} fragment files, ${ROUNDS} rounds, medians`);
  return rows;
}

// ---- foreground impact against a real daemon

async function api(url: string, token: string, method: string, path: string, body?: unknown): Promise<{ state: string }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { state: string };
}

/** A closed loop of CONNECTIONS GETs of random 1 MiB objects for SECONDS; latencies in ms. */
function load(url: string, token: string): Promise<{ latencies: number[]; errors: number }> {
  return closedLoopGets({
    connections: CONNECTIONS, seconds: SECONDS, headers: { authorization: `Bearer ${token}` }, expectBytes: MiB,
    url: () => `${url}/v1/objects/${encodeURIComponent(`fg/${Math.floor(Math.random() * FOREGROUND_OBJECTS)}`)}`,
  });
}

/**
 * `control` is a second phase with the scrubber stopped, measured like the
 * others against `idle`: its ratio is this machine's noise floor for the run
 * (an A/A comparison), to read the other ratios against.
 */
type Phase = 'idle' | 'control' | 'low' | 'medium' | 'high';

async function foregroundImpact(): Promise<string[][]> {
  const config = JSON.parse(readFileSync(join(poolDir, 'pool.json'), 'utf8')) as { cache: { maxBytes: number } };
  config.cache.maxBytes = 0; // every GET reads its fragments
  writeFileSync(join(poolDir, 'pool.json'), JSON.stringify(config, null, 2));
  const daemon = await startDaemon(poolDir, ['serve', '--log-level', 'warn']);
  const { url, token } = daemon;
  const phases = ['idle', ...(process.env.DFS_BENCH_PHASES ?? 'control,low,medium,high').split(',').filter((p) => p !== 'idle')] as Phase[];
  const samples = new Map<Phase, number[]>(phases.map((p) => [p, []]));
  const perRound = new Map<Phase, number[]>(phases.map((p) => [p, []]));
  const bytesScanned = new Map<Phase, number>(phases.map((p) => [p, 0]));
  let errors = 0;
  try {
    await load(url, token); // warm up
    for (let r = 0; r < ROUNDS; r++) {
      for (let step = 0; step < phases.length; step++) {
        const phase = phases[(step + r) % phases.length]!;
        let keep = false;
        if (phase === 'idle' || phase === 'control') await api(url, token, 'POST', '/v1/scrub/stop');
        else {
          await api(url, token, 'PUT', '/v1/scrub/intensity', { intensity: phase });
          await api(url, token, 'POST', '/v1/scrub/start');
          keep = true;
        }
        const before = await scrubbedBytes(url);
        // Passes over a warm pool end quickly at high: start the next one at once.
        // The same status polling in every phase, the idle one included, so that only the scrubbing differs.
        let polling = true;
        const keeper = (async () => {
          while (polling) {
            await new Promise((res) => setTimeout(res, 250));
            if (polling && (await api(url, token, 'GET', '/v1/scrub/status')).state === 'idle' && keep) await api(url, token, 'POST', '/v1/scrub/start');
          }
        })();
        const result = await load(url, token);
        polling = false;
        await keeper;
        bytesScanned.set(phase, bytesScanned.get(phase)! + (await scrubbedBytes(url)) - before);
        errors += result.errors;
        samples.get(phase)!.push(...result.latencies);
        perRound.get(phase)!.push(percentile([...result.latencies].sort((a, b) => a - b), 0.99));
      }
      process.stderr.write(`foreground round ${r + 1}/${ROUNDS}\n`);
    }
    await api(url, token, 'POST', '/v1/scrub/stop');
  } finally {
    await daemon.stop();
  }
  const sorted = new Map(phases.map((p) => [p, [...samples.get(p)!].sort((a, b) => a - b)]));
  const idleP99 = percentile(sorted.get('idle')!, 0.99);
  const targets: Record<Phase, string> = { idle: '', control: '(noise floor)', low: '<= 1.05x', medium: '<= 1.15x', high: '<= 1.5x' };
  const rows = [['scrubber', 'GETs', 'p50 ms', 'p99 ms', 'p99 / idle p99', 'median of per-round ratios', 'target', 'scrubbed MB/s']];
  for (const p of phases) {
    const s = sorted.get(p)!;
    const p99 = percentile(s, 0.99);
    const roundRatios = perRound.get(p)!.map((v, i) => v / perRound.get('idle')![i]!);
    rows.push([p === 'idle' ? 'stopped' : p === 'control' ? 'stopped (A/A control)' : p, String(s.length), percentile(s, 0.5).toFixed(1), p99.toFixed(1), p === 'idle' ? '1.00x' : `${(p99 / idleP99).toFixed(2)}x`,
      p === 'idle' ? '' : `${median(roundRatios).toFixed(2)}x`, targets[p], (bytesScanned.get(p)! / 1e6 / (ROUNDS * SECONDS)).toFixed(0)]);
  }
  console.log(`\nforeground impact: GET of 1 MiB objects (${FOREGROUND_OBJECTS} objects, ec:4+2, no extent cache), ${CONNECTIONS} connections in a closed loop, ${SECONDS} s per phase, ${ROUNDS} rounds; background scrub over ${BYTES / MiB} MiB${errors ? `; ${errors} failed GETs` : ''}`);
  return rows;
}

async function scrubbedBytes(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = /^dynamicfs_scrub_read_bytes_total (\S+)$/m.exec(text);
  return line ? Number(line[1]) : 0;
}

const engine = Engine.init(poolDir, { disks, policy: 'ec:4+2' });
await store(engine, 'bulk', BYTES, 1);
for (let i = 0; i < FOREGROUND_OBJECTS; i++) await store(engine, `fg/${i}`, MiB, i + 2);
console.log(`bench:scrub — node ${process.version}`);
if (PARTS.includes('throughput')) printRows(await throughput(engine));
await engine.close();
if (PARTS.includes('foreground')) printRows(await foregroundImpact());
rmSync(root, { recursive: true, force: true });
