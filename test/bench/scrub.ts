// npm run bench:scrub — the scrubber's figures, each against a peer in the
// same run (interleaved rounds, medians):
//
// 1. Throughput: a one-shot scrub at `high` and at `auto` (no clients: full
//    speed) of an idle ec:4+2 pool against one thread reading the same
//    fragment files into a reused buffer with no checks. Twice: with the page
//    cache warm (memory-bound) and, when this process may drop the page cache
//    (root on Linux), cold (disk-bound, what a scrub of a real pool meets).
//    Target ≥ 0.8×.
// 2. Foreground impact: a real daemon on loopback serves GETs of 1 MiB objects
//    to a steady closed-loop load (no extent cache, so every GET reads and
//    checks fragments) while its background scrubber runs at low, medium,
//    high and auto over the rest of the pool, restarted whenever a pass ends;
//    the p99 of each is divided by the p99 with the scrubber stopped. Targets
//    ≤ 1.05× (low, auto), ≤ 1.15×, ≤ 1.5×. A second stopped phase (the A/A
//    control) is measured the same way: its ratio shows how far p99 moves
//    here with no scrubber. The `deadline` phase is auto with a deadline it
//    cannot meet under load: p99 still held, and onTrack false.
// 3. Load step: auto scrubs an idle pool, a closed-loop GET load starts and
//    stops; from the scrubber's bytes sampled every 100 ms, how long it took
//    to back off (rate under 20% of its idle rate) and to recover (over 80%).
//    Targets ≤ 1 s and ≤ 5 s. The first round is drawn (scrub rate and client
//    p99 over time) to docs/scrub-load-step.svg.
// 4. Deadline: --verify-within set so that the rate it asks for is a quarter
//    of what the scrubber could do (its ceiling, a --max-rate: the pace is
//    worked out from stamps counted by minute, so the deadline must span
//    minutes); the measured rate against that target (within 20%), and how
//    steady it is over 5 s windows.
// 5. CPU at low: the daemon's CPU (utime+stime of every thread, /proc) while
//    its scrubber runs at low with no clients, in its steady state (windows
//    after a warm-up), against the same daemon idle. Target < 1% of a core.
//
//   DFS_BENCH_SCRUB_BYTES   bytes of objects to scrub (default 512 MiB)
//   DFS_BENCH_ROUNDS        rounds (default 10)
//   DFS_BENCH_SECONDS       seconds of load per phase and round (default 3; short phases, many rounds: drift on the machine falls on every phase alike)
//   DFS_BENCH_CONNECTIONS   concurrent GET loops (default 4)
//   DFS_BENCH_PARTS         throughput,foreground,step,deadline,cpu (default all)
//   DFS_BENCH_PHASES        foreground phases besides idle (default control,low,medium,high,auto,deadline)
//   DFS_BENCH_STEP_ROUNDS   load steps (default 3)
//   DFS_BENCH_WARM_UP_SECONDS  scrubbing at low before CPU is measured (default 30)
import { closeSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Engine, chunkSource, putObject } from '../../src/store/index.js';
import { ScrubService } from '../../src/scrub/index.js';
import { fragmentFiles, tempDir } from '../helpers/cli.js';
import { startDaemon } from '../helpers/daemon.js';
import { cpuSeconds, storageReadBytes, threadCpuSeconds } from '../helpers/memory-load.js';
import { closedLoopGets, median, percentile, printRows } from './harness.js';

const MiB = 1024 * 1024;
const BYTES = Number(process.env.DFS_BENCH_SCRUB_BYTES ?? 512 * MiB);
const ROUNDS = Number(process.env.DFS_BENCH_ROUNDS ?? 10);
const SECONDS = Number(process.env.DFS_BENCH_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.DFS_BENCH_CONNECTIONS ?? 4);
const FOREGROUND_OBJECTS = 64;
const PARTS = (process.env.DFS_BENCH_PARTS ?? 'throughput,foreground,step,deadline,cpu').split(',');
const STEP_ROUNDS = Number(process.env.DFS_BENCH_STEP_ROUNDS ?? 3);
const WARM_UP_SECONDS = Number(process.env.DFS_BENCH_WARM_UP_SECONDS ?? 30);
/** Written before the CPU part, so that one pass at low (ten extents a second) outlasts it. */
const LOW_EXTRA_BYTES = 1024 * MiB;

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
  const scrub = async (intensity: 'high' | 'auto'): Promise<number> => {
    const t = performance.now();
    const s = await service.runOnce({ intensity, dryRun: true });
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
  const samples = { warm: { high: [] as number[], auto: [] as number[], read: [] as number[] }, cold: { high: [] as number[], auto: [] as number[], read: [] as number[] } };
  await scrub('high'); // warm up the JIT, the workers and the page cache
  readAll(files);
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of modes) {
      const order = (['high', 'auto', 'read'] as const).map((_, i, all) => all[(i + r) % all.length]!);
      for (const who of order) {
        if (mode === 'cold') dropCaches();
        else readAll(files);
        samples[mode][who].push(who === 'read' ? read() : await scrub(who));
      }
    }
    process.stderr.write(`throughput round ${r + 1}/${ROUNDS}\n`);
  }
  await service.close();
  const mb = (x: number) => (x / 1e6).toFixed(0);
  const rows = [['page cache', 'intensity', 'scrub MB/s', 'read the same files MB/s', 'ratio', 'target']];
  for (const mode of modes) {
    for (const intensity of ['high', 'auto'] as const) {
      const ratios = samples[mode][intensity].map((s, i) => s / samples[mode].read[i]!);
      rows.push([mode, intensity, mb(median(samples[mode][intensity])), mb(median(samples[mode].read)), `${median(ratios).toFixed(2)}x`, '>= 0.8x']);
    }
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
/** Turns the daemon's extent cache off in pool.json: every GET reads its fragments. */
function noExtentCache(): void {
  const config = JSON.parse(readFileSync(join(poolDir, 'pool.json'), 'utf8')) as { cache: { maxBytes: number } };
  config.cache.maxBytes = 0;
  writeFileSync(join(poolDir, 'pool.json'), JSON.stringify(config, null, 2));
}

type Phase = 'idle' | 'control' | 'low' | 'medium' | 'high' | 'auto' | 'deadline';

async function foregroundImpact(): Promise<string[][]> {
  noExtentCache();
  const daemon = await startDaemon(poolDir, ['serve', '--log-level', 'warn']);
  const { url, token } = daemon;
  const phases = ['idle', ...(process.env.DFS_BENCH_PHASES ?? 'control,low,medium,high,auto,deadline').split(',').filter((p) => p !== 'idle')] as Phase[];
  // The deadline phase: auto with a deadline that asks for about the pool's whole size per second (it cannot be met under load).
  const impossible = 1; // a second: everything is overdue at once, and asked for within seconds
  const offTrack: boolean[] = [];
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
          await api(url, token, 'PUT', '/v1/scrub/intensity', { intensity: phase === 'deadline' ? 'auto' : phase });
          await api(url, token, 'PUT', '/v1/scrub/schedule', { verifyWithin: phase === 'deadline' ? impossible : null });
          await api(url, token, 'POST', '/v1/scrub/start');
          keep = true;
        }
        const before = await scrubTotal(url, token);
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
        if (phase === 'deadline') offTrack.push((await api(url, token, 'GET', '/v1/scrub/status') as unknown as { pacing: { onTrack: boolean } }).pacing.onTrack === false);
        bytesScanned.set(phase, bytesScanned.get(phase)! + (await scrubTotal(url, token)) - before);
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
  const targets: Record<Phase, string> = { idle: '', control: '(noise floor)', low: '<= 1.05x', medium: '<= 1.15x', high: '<= 1.5x', auto: '<= 1.05x', deadline: '<= 1.05x, off track' };
  const rows = [['scrubber', 'GETs', 'p50 ms', 'p99 ms', 'p99 / idle p99', 'median of per-round ratios', 'target', 'scrubbed MB/s']];
  for (const p of phases) {
    const s = sorted.get(p)!;
    const p99 = percentile(s, 0.99);
    const roundRatios = perRound.get(p)!.map((v, i) => v / perRound.get('idle')![i]!);
    const name = p === 'idle' ? 'stopped' : p === 'control' ? 'stopped (A/A control)' : p === 'deadline' ? `auto, --verify-within ${impossible}s (off track in ${offTrack.filter(Boolean).length}/${offTrack.length} rounds)` : p;
    rows.push([name, String(s.length), percentile(s, 0.5).toFixed(1), p99.toFixed(1), p === 'idle' ? '1.00x' : `${(p99 / idleP99).toFixed(2)}x`,
      p === 'idle' ? '' : `${median(roundRatios).toFixed(2)}x`, targets[p], (bytesScanned.get(p)! / 1e6 / (ROUNDS * SECONDS)).toFixed(0)]);
  }
  console.log(`\nforeground impact: GET of 1 MiB objects (${FOREGROUND_OBJECTS} objects, ec:4+2, no extent cache), ${CONNECTIONS} connections in a closed loop, ${SECONDS} s per phase, ${ROUNDS} rounds; background scrub over ${BYTES / MiB} MiB${errors ? `; ${errors} failed GETs` : ''}`);
  return rows;
}

/** The scrubber's bytes read so far (the status's running total: cheaper to ask for ten times a second than a scrape). */
async function scrubTotal(url: string, token: string): Promise<number> {
  const status = (await api(url, token, 'GET', '/v1/scrub/status')) as unknown as { metrics: { ioBytes: number } };
  return status.metrics.ioBytes;
}

/** Runs `fn` against a daemon on the pool (no extent cache: GETs read fragments), scrubbing at auto, passes back to back. */
async function withAutoDaemon<T>(fn: (url: string, token: string, pid: number) => Promise<T>): Promise<T> {
  noExtentCache();
  const daemon = await startDaemon(poolDir, ['serve', '--log-level', 'warn']);
  try {
    await api(daemon.url, daemon.token, 'PUT', '/v1/scrub/schedule', { intensity: 'auto', frequency: 'continuous', verifyWithin: null });
    return await fn(daemon.url, daemon.token, daemon.child.pid!);
  } finally {
    await daemon.stop();
  }
}

/** Restarts the background scrubber whenever a pass ends, until stopped. */
function keepScrubbing(url: string, token: string): { stop: () => Promise<void> } {
  let on = true;
  const loop = (async () => {
    while (on) {
      if ((await api(url, token, 'GET', '/v1/scrub/status')).state !== 'running' && on) await api(url, token, 'POST', '/v1/scrub/start');
      await new Promise((res) => setTimeout(res, 200));
    }
  })();
  return { stop: async () => { on = false; await loop; } };
}

const STEP_BEFORE_MS = 3000;
const STEP_LOAD_MS = 6000;
const STEP_AFTER_MS = 6000;
const SAMPLE_MS = 100;

interface StepRound {
  /** Scrub rate (MB/s) over each SAMPLE_MS, at its end (ms from the start). */
  rate: { at: number; mbps: number }[];
  /** Client latencies (ms) with when each ended (ms from the start). */
  clients: { at: number; ms: number }[];
  idleMbps: number;
  backoffMs: number | null;
  recoverMs: number | null;
}

async function loadStep(): Promise<{ rows: string[][]; idleMbps: number }> {
  const rounds: StepRound[] = [];
  await withAutoDaemon(async (url, token) => {
    await load(url, token); // warm up
    const keeper = keepScrubbing(url, token);
    for (let r = 0; r < STEP_ROUNDS; r++) {
      await new Promise((res) => setTimeout(res, 1000)); // the last round's load is gone
      const t0 = performance.now();
      const rate: StepRound['rate'] = [];
      let sampling = true;
      const sampler = (async () => {
        let last = await scrubTotal(url, token);
        let lastAt = performance.now();
        while (sampling) {
          await new Promise((res) => setTimeout(res, SAMPLE_MS));
          const total = await scrubTotal(url, token);
          const now = performance.now();
          rate.push({ at: now - t0, mbps: ((total - last) / 1e6) / ((now - lastAt) / 1000) });
          last = total;
          lastAt = now;
        }
      })();
      await new Promise((res) => setTimeout(res, STEP_BEFORE_MS));
      const loadAt = performance.now() - t0;
      const result = await closedLoopGets({
        connections: CONNECTIONS, seconds: STEP_LOAD_MS / 1000, headers: { authorization: `Bearer ${token}` }, expectBytes: MiB,
        url: () => `${url}/v1/objects/${encodeURIComponent(`fg/${Math.floor(Math.random() * FOREGROUND_OBJECTS)}`)}`,
      });
      const loadEnd = performance.now() - t0;
      await new Promise((res) => setTimeout(res, STEP_AFTER_MS));
      sampling = false;
      await sampler;
      const idle = median(rate.filter((x) => x.at > 500 && x.at <= loadAt).map((x) => x.mbps));
      const backoff = rate.find((x) => x.at > loadAt && x.mbps <= 0.2 * idle);
      const recover = rate.find((x) => x.at > loadEnd && x.mbps >= 0.8 * idle);
      rounds.push({
        rate, clients: result.latencies.map((ms, i) => ({ at: result.ends[i]! - t0, ms })), idleMbps: idle,
        backoffMs: backoff ? backoff.at - loadAt : null, recoverMs: recover ? recover.at - loadEnd : null,
      });
      process.stderr.write(`load step ${r + 1}/${STEP_ROUNDS}\n`);
    }
    await keeper.stop();
    await api(url, token, 'POST', '/v1/scrub/stop');
  });
  const plot = fileURLToPath(new URL('../../../docs/scrub-load-step.svg', import.meta.url));
  writeFileSync(plot, stepSvg(rounds[0]!));
  const ms = (v: number | null) => (v === null ? 'never' : `${(v / 1000).toFixed(2)} s`);
  const rows = [['round', 'idle scrub MB/s', 'back off (rate < 20% of idle)', 'recover (rate > 80% of idle)', 'client p99 ms under load']];
  rounds.forEach((r, i) => {
    const lat = r.clients.map((c) => c.ms).sort((a, b) => a - b);
    rows.push([String(i + 1), r.idleMbps.toFixed(0), ms(r.backoffMs), ms(r.recoverMs), percentile(lat, 0.99).toFixed(1)]);
  });
  const backoffs = rounds.map((r) => r.backoffMs ?? Infinity);
  const recovers = rounds.map((r) => r.recoverMs ?? Infinity);
  rows.push(['median', median(rounds.map((r) => r.idleMbps)).toFixed(0), `${ms(median(backoffs))} (target <= 1 s)`, `${ms(median(recovers))} (target <= 5 s)`, '']);
  console.log(`\nload step at auto: ${STEP_BEFORE_MS / 1000} s idle, ${STEP_LOAD_MS / 1000} s of ${CONNECTIONS} closed-loop GET connections, ${STEP_AFTER_MS / 1000} s idle; scrub rate sampled every ${SAMPLE_MS} ms; plot of round 1: docs/scrub-load-step.svg`);
  return { rows, idleMbps: median(rounds.map((r) => r.idleMbps)) };
}

/** The scrub rate and the clients' p99 (per 250 ms) over one load step, as an SVG. */
function stepSvg(round: StepRound): string {
  const W = 720;
  const H = 300;
  const left = 60;
  const right = 60;
  const top = 30;
  const bottom = 40;
  const span = STEP_BEFORE_MS + STEP_LOAD_MS + STEP_AFTER_MS;
  const x = (ms: number) => left + (ms / span) * (W - left - right);
  const maxRate = Math.max(1, ...round.rate.map((r) => r.mbps));
  const bins: { at: number; p99: number }[] = [];
  for (let t = 0; t < span; t += 250) {
    const inBin = round.clients.filter((c) => c.at >= t && c.at < t + 250).map((c) => c.ms).sort((a, b) => a - b);
    if (inBin.length) bins.push({ at: t + 125, p99: percentile(inBin, 0.99) });
  }
  const maxP99 = Math.max(1, ...bins.map((b) => b.p99));
  const yRate = (v: number) => top + (1 - v / maxRate) * (H - top - bottom);
  const yP99 = (v: number) => top + (1 - v / maxP99) * (H - top - bottom);
  const path = (pts: [number, number][]) => pts.map(([px, py], i) => `${i ? 'L' : 'M'}${px.toFixed(1)},${py.toFixed(1)}`).join(' ');
  const loadX0 = x(STEP_BEFORE_MS);
  const loadX1 = x(STEP_BEFORE_MS + STEP_LOAD_MS);
  const ticks = Array.from({ length: Math.floor(span / 1000) + 1 }, (_, i) => i);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">
<rect width="${W}" height="${H}" fill="white"/>
<rect x="${loadX0.toFixed(1)}" y="${top}" width="${(loadX1 - loadX0).toFixed(1)}" height="${H - top - bottom}" fill="#f0f0f0"/>
<text x="${((loadX0 + loadX1) / 2).toFixed(1)}" y="${top + 14}" text-anchor="middle" fill="#666">client GET load (${CONNECTIONS} connections)</text>
<line x1="${left}" y1="${H - bottom}" x2="${W - right}" y2="${H - bottom}" stroke="#333"/>
${ticks.map((s) => `<text x="${x(s * 1000).toFixed(1)}" y="${H - bottom + 14}" text-anchor="middle">${s}</text>`).join('')}
<text x="${(W / 2).toFixed(0)}" y="${H - 8}" text-anchor="middle">seconds</text>
<text x="${left - 8}" y="${top - 10}" text-anchor="start" fill="#1f77b4">scrub MB/s (max ${maxRate.toFixed(0)})</text>
<text x="${W - right + 8}" y="${top - 10}" text-anchor="end" fill="#d62728">client p99 ms (max ${maxP99.toFixed(1)})</text>
<path d="${path(round.rate.map((r) => [x(r.at), yRate(r.mbps)]))}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>
<path d="${path(bins.map((b) => [x(b.at), yP99(b.p99)]))}" fill="none" stroke="#d62728" stroke-width="1.5"/>
</svg>
`;
}

/**
 * --verify-within set so that the deadline asks for a quarter of what the
 * scrubber could do. The pace is worked out from stamps counted by minute, so
 * the deadline must span minutes: on this small pool that means a slow
 * scrubber, so its ceiling is set with --max-rate (CEILING), and the deadline
 * asks for a quarter of it. Measured: the rate with no deadline (the
 * ceiling, checked), then with the deadline, over 5 s windows.
 */
const CEILING = 8e6;
async function deadline(): Promise<string[][]> {
  const wanted = CEILING / 4;
  const WINDOW_S = 5;
  const WINDOWS = 12;
  let within = 0;
  let ceilingRate = 0;
  const rates: number[] = [];
  const targets: number[] = [];
  const onTrack: boolean[] = [];
  await withAutoDaemon(async (url, token) => {
    await api(url, token, 'PUT', '/v1/scrub/intensity', { intensity: 'auto', maxRate: CEILING });
    await api(url, token, 'POST', '/v1/scrub/start');
    await new Promise((res) => setTimeout(res, 2000));
    const before = await scrubTotal(url, token);
    await new Promise((res) => setTimeout(res, 10_000));
    ceilingRate = ((await scrubTotal(url, token)) - before) / 10;
    await api(url, token, 'POST', '/v1/scrub/stop');
    // The stamps the pool has decide the target: a first guess, then scaled to the wanted rate.
    within = Math.round((BYTES * 1.5) / wanted / 0.9);
    for (let i = 0; i < 8; i++) {
      await api(url, token, 'PUT', '/v1/scrub/schedule', { verifyWithin: within });
      await new Promise((res) => setTimeout(res, 2100)); // the status works the pace out every 2 s
      const target = (await api(url, token, 'GET', '/v1/scrub/status') as unknown as { pacing: { targetBytesPerSecond: number } }).pacing.targetBytesPerSecond;
      if (target <= 0 || Math.abs(target - wanted) < 0.05 * wanted) break;
      within = Math.max(60, Math.round(within * (target / wanted)));
    }
    await api(url, token, 'POST', '/v1/scrub/start');
    await new Promise((res) => setTimeout(res, 3000)); // under way
    let last = await scrubTotal(url, token);
    for (let w = 0; w < WINDOWS; w++) {
      await new Promise((res) => setTimeout(res, WINDOW_S * 1000));
      const total = await scrubTotal(url, token);
      const status = (await api(url, token, 'GET', '/v1/scrub/status')) as unknown as { pacing: { targetBytesPerSecond: number; onTrack: boolean } };
      rates.push((total - last) / WINDOW_S);
      targets.push(status.pacing.targetBytesPerSecond);
      onTrack.push(status.pacing.onTrack);
      last = total;
    }
    await api(url, token, 'POST', '/v1/scrub/stop');
    await api(url, token, 'PUT', '/v1/scrub/schedule', { verifyWithin: null, maxRate: null });
  });
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
  const sd = Math.sqrt(rates.reduce((a, b) => a + (b - mean) ** 2, 0) / rates.length);
  const target = median(targets);
  console.log(`\ndeadline: ceiling --max-rate ${CEILING / 1e6} MB/s, --verify-within ${within}s asking for a quarter of it; the rate over ${WINDOWS} windows of ${WINDOW_S} s`);
  return [
    ['rate at the ceiling, no deadline MB/s', 'target MB/s (status, median)', 'measured MB/s (mean)', 'measured / target', 'spread of the windows (sd / mean)', 'on track', 'target'],
    [(ceilingRate / 1e6).toFixed(2), (target / 1e6).toFixed(2), (mean / 1e6).toFixed(2), `${(mean / target).toFixed(2)}x`, `${((sd / mean) * 100).toFixed(0)}%`,
      `${onTrack.filter(Boolean).length}/${onTrack.length}`, 'within 20%'],
  ];
}

/** The daemon's CPU while scrubbing at low with no clients, against the same daemon idle. */
async function cpuAtLow(): Promise<string[][]> {
  const SECONDS_EACH = 20;
  const WINDOWS = 3;
  const rows: string[][] = [['daemon', '% of a core', 'extents/s scrubbed', 'MB/s read from the disks', 'by thread (the busiest four)', 'target']];
  const byThread = (threads: Map<string, number>) => [...threads].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([name, core]) => `${name} ${core.toFixed(2)}`).join(', ');
  await withAutoDaemon(async (url, token, pid) => {
    // Bytes the daemon had fetched from the storage devices, not the page cache (/proc/PID/io): reads that
    // reach the disks cost several times the CPU of a copy from memory (the kernel's readahead, and here a
    // virtual machine's exits on every request).
    const fromDisks = () => storageReadBytes(pid) ?? NaN;
    const measure = async (): Promise<{ core: number; extents: number; threads: Map<string, number>; diskMBps: number }> => {
      const status = async () => ((await api(url, token, 'GET', '/v1/scrub/status')) as unknown as { metrics: { extentsScanned: number } }).metrics.extentsScanned;
      const e0 = await status();
      const c0 = cpuSeconds(pid);
      const t0 = threadCpuSeconds(pid);
      const d0 = fromDisks();
      await new Promise((res) => setTimeout(res, SECONDS_EACH * 1000));
      const c1 = cpuSeconds(pid);
      const t1 = threadCpuSeconds(pid);
      const d1 = fromDisks();
      const e1 = await status();
      // By thread (Node names them all "node"; the main thread's id is the process's): where the CPU went.
      const threads = new Map<string, number>();
      for (const [tid, seconds] of t1) {
        const spent = seconds - (t0.get(tid) ?? 0);
        threads.set(tid === pid ? 'main thread' : `thread ${tid}`, (spent / SECONDS_EACH) * 100);
      }
      return { core: ((c1 - c0) / SECONDS_EACH) * 100, extents: (e1 - e0) / SECONDS_EACH, threads, diskMBps: (d1 - d0) / 1e6 / SECONDS_EACH };
    };
    await api(url, token, 'POST', '/v1/scrub/stop');
    // A pass the parts before left unfinished would be resumed, and could end within the windows: finish it first, at high.
    const passId = async () => ((await api(url, token, 'GET', '/v1/scrub/status')) as unknown as { pass: { id: string } | null }).pass?.id ?? null;
    const left = await passId();
    if (left !== null) {
      await api(url, token, 'PUT', '/v1/scrub/intensity', { intensity: 'high' });
      await api(url, token, 'POST', '/v1/scrub/start');
      while ((await passId()) === left) await new Promise((res) => setTimeout(res, 250));
      await api(url, token, 'POST', '/v1/scrub/stop');
      await new Promise((res) => setTimeout(res, 5000));
    }
    const idle = await measure();
    await api(url, token, 'PUT', '/v1/scrub/intensity', { intensity: 'low' });
    // One pass outlasts warm-up and windows (the pool holds LOW_EXTRA_BYTES more for this part): no status
    // polling to restart it, and no window with a gap between passes.
    await api(url, token, 'POST', '/v1/scrub/start');
    // The steady state of a daemon that scrubs for days: past the first half-minute's compiling (V8 tiers up
    // the scrub code on its own threads for about that long at this pace).
    await new Promise((res) => setTimeout(res, WARM_UP_SECONDS * 1000));
    const windows: Awaited<ReturnType<typeof measure>>[] = [];
    for (let w = 0; w < WINDOWS; w++) windows.push(await measure());
    await api(url, token, 'POST', '/v1/scrub/stop');
    rows.push(['idle (scrubber stopped)', idle.core.toFixed(2), idle.extents.toFixed(1), idle.diskMBps.toFixed(1), byThread(idle.threads), '']);
    windows.forEach((low, w) => rows.push([`scrubbing at low, window ${w + 1}`, low.core.toFixed(2), low.extents.toFixed(1), low.diskMBps.toFixed(1), byThread(low.threads), '< 1% of a core']));
    const mid = median(windows.map((w) => w.core));
    rows.push(['scrubbing at low, median', mid.toFixed(2), '', '', '', '< 1% of a core']);
    rows.push(['difference (median - idle)', (mid - idle.core).toFixed(2), '', '', '', '']);
  });
  console.log(`\nCPU at low: utime+stime of the daemon (every thread) from /proc, ${WARM_UP_SECONDS} s after scrubbing starts, over windows of 20 s, no clients (the status is asked twice per window)`);
  return rows;
}


const engine = Engine.init(poolDir, { disks, policy: 'ec:4+2' });
await store(engine, 'bulk', BYTES, 1);
for (let i = 0; i < FOREGROUND_OBJECTS; i++) await store(engine, `fg/${i}`, MiB, i + 2);
console.log(`bench:scrub — node ${process.version}`);
if (PARTS.includes('throughput')) printRows(await throughput(engine));
await engine.close();
if (PARTS.includes('foreground')) printRows(await foregroundImpact());
if (PARTS.includes('step')) printRows((await loadStep()).rows);
if (PARTS.includes('deadline')) printRows(await deadline());
if (PARTS.includes('cpu')) {
  const more = Engine.open(poolDir);
  await store(more, 'low/extra', LOW_EXTRA_BYTES, 99);
  await more.close();
  printRows(await cpuAtLow());
}
rmSync(root, { recursive: true, force: true });
