// The scrubber's pace, with fake clocks and synthetic latencies: the `auto`
// controller backs off at once when load arrives, measures the clients'
// p99 without scrubbing, settles where their latency stays within tolerance
// of it, and returns to full speed when load leaves; a deadline asks for
// bytes left over time left and says when it will be missed; the short-window
// rate; the token bucket and the load gate; and the schedule settings.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AUTO, AutoController } from '../../src/scrub/auto.js';
import { deadlinePacing, MIN_HORIZON_MS, RateMeter, RATE_MIN_MS } from '../../src/scrub/deadline.js';
import { Pacer } from '../../src/scrub/pacing.js';
import { DiskGate, diskGate } from '../../src/kernels/index.js';
import { ScrubService } from '../../src/scrub/index.js';
import { quantile } from '../../src/store/activity.js';
import { Engine, chunkSource, putObject } from '../../src/store/index.js';
import { createMetricsRegistry } from '../../src/metrics/index.js';

async function put(engine: Engine, key: string, mib: number): Promise<void> {
  const bytes = new Uint8Array(mib * 1024 * 1024).map((_, i) => (i * 2654435761) >>> 24);
  async function* one() {
    yield bytes;
  }
  await putObject(engine, chunkSource(one(), bytes.length), key);
}
import { tempDir } from '../helpers/cli.js';

/**
 * A closed-loop client: a request every 10 ms whose latency grows with the
 * scrubber's level (10 ms alone, 10 × (1 + level/2) ms while scrubbing), with
 * a little deterministic jitter. Returns the latencies over windows as the
 * controller asks for them.
 */
class SyntheticClients {
  samples: { at: number; ms: number }[] = [];
  private seed = 7;

  constructor(private readonly cost: (level: number) => number) {}

  private jitter(): number {
    this.seed = (this.seed * 1103515245 + 12345) % 2 ** 31;
    return (this.seed / 2 ** 31) * 0.2; // 0..0.2 ms
  }

  /** Requests ending in (from, to], each at the level in force. */
  run(from: number, to: number, level: number): void {
    for (let t = Math.floor(from / 10) * 10 + 10; t <= to; t += 10) this.samples.push({ at: t, ms: this.cost(level) + this.jitter() });
  }

  latencies(now: number, windowMs: number): number[] {
    return this.samples.filter((s) => s.at > now - windowMs && s.at <= now).map((s) => s.ms);
  }
}

test('auto: full speed while idle, backs off at once when load arrives, settles within tolerance, full speed again when load leaves', () => {
  const controller = new AutoController();
  const clients = new SyntheticClients((level) => 10 * (1 + level / 2));
  let now = 100_000;
  let lastRequestAt = -Infinity;
  const step = (busy: boolean) => {
    const state = controller.update({ now, idleMs: busy ? 0 : now - lastRequestAt, latencies: (ms) => clients.latencies(now, ms) });
    return state;
  };
  assert.is(step(false).level, 1, 'idle: full speed');

  // Load arrives: the very next decision backs off (to measuring the clients without the scrubber).
  let state = step(true);
  assert.ok(state.level < AUTO.FIRST_BUSY_LEVEL + 1e-9, `backed off at once (level ${state.level})`);
  assert.is(state.probing, true, 'measures the clients without scrubbing first');
  // Run 60 s of load, 50 ms per scrub decision.
  const levels: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < 1200; i++) {
    const level = state.level;
    clients.run(now, now + 50, level);
    now += 50;
    lastRequestAt = now;
    state = step(true);
    if (i > 600) {
      levels.push(state.level);
      if (state.p99Ms !== null && state.baselineP99Ms !== null) ratios.push(state.p99Ms / state.baselineP99Ms);
    }
  }
  assert.ok(state.baselineP99Ms !== null && Math.abs(state.baselineP99Ms - 10.2) < 0.3, `baseline p99 ${state.baselineP99Ms} ms (10 ms alone)`);
  const mean = levels.reduce((a, b) => a + b, 0) / levels.length;
  // Tolerance 5%: 10 × (1 + L/2) ≤ 10.5 holds up to L = 0.1; the controller should hover below that, scrubbing still.
  assert.ok(mean > AUTO.MIN_LEVEL && mean <= 0.12, `settled level ${mean.toFixed(3)}`);
  const meanRatio = ratios.reduce((a, b) => a + b, 0) / ratios.length;
  assert.ok(meanRatio <= 1.05, `clients' p99 at ${meanRatio.toFixed(3)}x their p99 without scrubbing`);

  // Load leaves: within IDLE_MS the scrubber is back at full speed.
  const left = now;
  while (step(false).level < 1) now += 50;
  assert.ok(now - left <= AUTO.IDLE_MS, `full speed ${now - left} ms after the last request`);
  // Load again: straight back to where the busy spell ended, not to full speed.
  now += 10_000;
  const again = step(true);
  assert.ok(again.level < 0.2, `level ${again.level} when load returns`);
});

test('auto: a heavier scrub cost settles lower; no latencies at all holds the level', () => {
  const heavy = new AutoController();
  const clients = new SyntheticClients((level) => 10 * (1 + 4 * level));
  let now = 0;
  let state = heavy.update({ now, idleMs: 0, latencies: (ms) => clients.latencies(now, ms) });
  const levels: number[] = [];
  for (let i = 0; i < 1200; i++) {
    clients.run(now, now + 50, state.level);
    now += 50;
    state = heavy.update({ now, idleMs: 0, latencies: (ms) => clients.latencies(now, ms) });
    if (i > 600) levels.push(state.level);
  }
  const mean = levels.reduce((a, b) => a + b, 0) / levels.length;
  assert.ok(mean <= 0.03, `level ${mean.toFixed(4)} where each scrub share costs 8x more`);

  const quiet = new AutoController();
  let t = 0;
  let s = quiet.update({ now: t, idleMs: 0, latencies: () => [] });
  for (let i = 0; i < 200; i++) s = quiet.update({ now: (t += 50), idleMs: 0, latencies: () => [] });
  assert.ok(s.level > 0 && s.level <= AUTO.FIRST_BUSY_LEVEL, 'no samples: no increase past the first busy level');
});

test('deadline: bytes left over time left (aimed at 90% of it), the most any older group asks for, on track or not, and no deadline at all', () => {
  const now = Date.parse('2026-12-01T00:00:00Z');
  const day = 86_400_000;
  const within = 10 * day;
  // One group verified 1 day ago: due in 9 days (aimed: in 8).
  const one = deadlinePacing({ now, verifyWithinMs: within, due: [{ verifiedAt: now - day, bytes: 8 * 86_400 * 1000 }], recentRate: 1000 });
  assert.is(one.mode, 'deadline');
  assert.is(one.verifyWithinSeconds, 10 * 86_400);
  assert.is(one.targetBytesPerSecond, 1000, '8 days of bytes at 1000 B/s, aimed at 8 days');
  assert.is(one.deadlineAt, new Date(now + 9 * day).toISOString());
  assert.is(one.onTrack, true);
  assert.is(one.projectedCompletionAt, new Date(now + 8 * day).toISOString());
  // A small old group binds before a large young one: its prefix asks for more.
  const two = deadlinePacing({
    now, verifyWithinMs: within,
    due: [{ verifiedAt: now, bytes: 86_400 * 1000 }, { verifiedAt: now - 9 * day, bytes: 86_400 * 100 }], recentRate: null,
  });
  // old: 8.64 MB due (aimed) at 9 d - 9 d = 0 -> the shortest horizon; young: all 95 MB by 9 days.
  assert.is(two.targetBytesPerSecond, Math.round(86_400 * 100 / 5), 'the overdue-aimed prefix within the shortest horizon');
  assert.is(two.onTrack, true, 'not overdue yet by the real deadline (1 day left), no rate known yet');
  const behind = deadlinePacing({ now, verifyWithinMs: within, due: [{ verifiedAt: now - day, bytes: 9 * 86_400 * 1000 }], recentRate: 500 });
  assert.is(behind.onTrack, false, 'half the rate needed');
  const overdue = deadlinePacing({ now, verifyWithinMs: day, due: [{ verifiedAt: now - 2 * day, bytes: 6_000_000 }], recentRate: null });
  assert.is(overdue.onTrack, false, 'the deadline has passed');
  assert.is(overdue.targetBytesPerSecond, 6_000_000 / (MIN_HORIZON_MS / 1000), 'everything within the shortest horizon');
  const none = deadlinePacing({ now, verifyWithinMs: null, due: [{ verifiedAt: now, bytes: 10 }], recentRate: 1 });
  assert.equal([none.mode, none.targetBytesPerSecond, none.onTrack], ['intensity', null, null]);
});

test('the rate over a short window follows the recent pace, not the average since the start', () => {
  const meter = new RateMeter();
  meter.add(0, 0);
  assert.is(meter.rate(RATE_MIN_MS - 1), null, 'too soon');
  // 60 s slow (1 kB/s), then 30 s fast (10 kB/s).
  for (let t = 1000; t <= 60_000; t += 1000) meter.add(t, t);
  for (let t = 61_000; t <= 90_000; t += 1000) meter.add(t, 60_000 + (t - 60_000) * 10);
  const rate = meter.rate(90_000)!;
  assert.ok(rate > 9000 && rate <= 10_000, `recent ${rate} B/s (average since the start: ${(360_000 / 90).toFixed(0)})`);
  assert.is(quantile([5, 1, 3, 2, 4], 0.99), 5);
});

function fakeEngine(idleMs: number): Engine {
  return { foreground: { now: () => performance.now(), idleMs: () => idleMs, latencies: () => [] } } as unknown as Engine;
}

test('the ceiling is a token bucket (the lower of --max-rate and the deadline); the load gate holds passes', () => {
  const pacer = new Pacer(fakeEngine(1e9), { intensity: () => 'high', maxRate: () => 4_000_000, targetRate: () => 1_000_000 });
  pacer.read(250_000);
  const wait = pacer.pauseMs();
  assert.ok(wait > 230 && wait <= 250, `250 kB at 1 MB/s: ${wait.toFixed(1)} ms`);
  let load = 3;
  const gated = new Pacer(fakeEngine(1e9), { intensity: () => 'auto', maxRate: () => null, maxLoad: () => 1.5 }, () => load);
  assert.is(gated.round().inFlight, 0, 'over the gate: nothing goes out');
  assert.is(gated.pauseMs(), 1000);
  load = 0.4;
  assert.equal(gated.round(), { batch: 20, inFlight: 4, oneByOne: false }, 'under it, and clients idle: auto at full speed');
});

test('per disk: the scrubber\'s in-flight bound at each disk is settable, and a byte-rate cap per disk holds the pass to the busiest disk', async () => {
  const gate = new DiskGate();
  gate.configure(8, 50);
  assert.is(gate.backgroundBound, 4, 'half the bound by default');
  gate.configure(8, 50, 1);
  assert.is(gate.backgroundBound, 1);
  assert.is(gate.tryTake(9, true), true);
  assert.is(gate.tryTake(9, true), false, 'one scrub read at this disk at a time');
  assert.is(gate.tryTake(9, false), true, 'a client still has its places');
  const pacer = new Pacer(fakeEngine(1e9), { intensity: () => 'high', maxRate: () => null, diskMaxRate: () => 1_000_000 });
  pacer.readFrom('a', 100_000);
  pacer.readFrom('b', 500_000);
  const wait = pacer.pauseMs();
  assert.ok(wait > 480 && wait <= 500, `waits for the disk furthest over its cap: ${wait.toFixed(1)} ms`);
});

test('schedule: --verify-within and --max-load are set, shown and turned off; bad values are refused with a code; new pools scrub at auto', async () => {
  const root = tempDir('dfs-pacing-');
  const disks = Array.from({ length: 3 }, (_, i) => join(root, `d${i}`));
  for (const d of disks) mkdirSync(d);
  const engine = Engine.init(join(root, 'pool'), { disks, policy: 'replication:3' });
  let hostLoad = 0;
  const service = new ScrubService(engine, { load: () => hostLoad });
  try {
    assert.is(service.intensity, 'auto');
    let status = service.setSchedule({ verifyWithin: '36h', maxLoad: '0.8', frequency: 'manual', diskMaxRate: '20M', diskInFlight: '1' });
    assert.equal([status.schedule.diskMaxRate, status.schedule.diskInFlight], [20 * 1024 * 1024, 1]);
    assert.is(diskGate().backgroundBound, 1, 'the read queue follows at once');
    assert.is(status.pacing.mode, 'deadline');
    assert.is(status.pacing.verifyWithinSeconds, 36 * 3600);
    assert.is(status.schedule.maxLoad, 0.8);
    assert.is(engine.config.scrub.verifyWithin, 36 * 3600, 'persisted in pool.json');
    for (const [change, code] of [
      [{ verifyWithin: 'soon' }, 'DFS_ERR_SCRUB_DURATION_INVALID'], [{ maxLoad: '-1' }, 'DFS_ERR_SCRUB_SCHEDULE_INVALID'],
      [{ diskInFlight: '2000' }, 'DFS_ERR_SCRUB_SCHEDULE_INVALID'], [{ diskMaxRate: 'fast' }, 'DFS_ERR_SCRUB_RATE_INVALID'],
    ] as const) {
      let error: unknown = null;
      try {
        service.setSchedule(change);
      } catch (e) {
        error = e;
      }
      assert.is((error as { code?: string })?.code, code, JSON.stringify(change));
    }
    const registry = createMetricsRegistry({ engine, scrub: service });
    let text = await registry.metrics();
    assert.match(text, /^dynamicfs_scrub_verify_within_seconds 129600$/m);
    assert.match(text, /^dynamicfs_scrub_deadline_on_track 1$/m, 'nothing overdue in a fresh pool');
    assert.match(text, /^dynamicfs_scrub_target_rate_bytes_per_second \d+$/m);
    assert.match(text, /^dynamicfs_scrub_intensity\{intensity="auto"\} 1$/m);
    // With a deadline, passes run back to back whatever the frequency: the scheduler starts one at once.
    await put(engine, 'x', 8);
    service.startBackground();
    await service.tick();
    assert.is(service.state, 'running', 'a pass started although the frequency is manual');
    // The put just now was a client: busy (the scrubber backs off and measures) until it has been quiet for IDLE_MS.
    let sawBusy = false;
    for (let i = 0; i < 300; i++) {
      const a = service.autoState();
      if (a?.busy) sawBusy = true;
      if (sawBusy && a?.level === 1) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(sawBusy, 'the pass began right after a client\'s put: busy');
    const auto = service.status().auto;
    assert.ok(auto && auto.level === 1 && !auto.busy, `no clients since: auto at full speed (${JSON.stringify(auto)})`);
    assert.match(await registry.metrics(), /^dynamicfs_scrub_auto_level_ratio 1$/m);
    // The host gets busy past --max-load 0.8: the pass waits, and says so.
    hostLoad = 3;
    assert.is(service.status().loadGated, service.state === 'running', 'gated while a pass runs');
    assert.match(await registry.metrics(), new RegExp(`^dynamicfs_scrub_load_gated ${service.state === 'running' ? 1 : 0}$`, 'm'));
    hostLoad = 0;
    await service.stop();
    status = service.setSchedule({ verifyWithin: 'off', maxLoad: 'off', diskInFlight: 'off' });
    assert.is(diskGate().backgroundBound, Math.max(1, engine.config.reads.perDiskInFlight >> 1));
    assert.equal([status.pacing.mode, status.pacing.verifyWithinSeconds, status.schedule.maxLoad], ['intensity', null, null]);
    text = await registry.metrics();
    assert.not.match(text, /^dynamicfs_scrub_deadline_on_track/m, 'no deadline: no deadline metrics');
    assert.match(text, /^dynamicfs_scrub_load_gated 0$/m);
  } finally {
    await service.close();
    await engine.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
