// The scrubber of one open pool: one-shot passes (`dynamicfs scrub`) and, in
// the daemon, the background scrubber's state machine, driving its passes.
// Its parts live beside it: the versioned checkpoint a restart resumes from
// (checkpoint.ts), the timer and schedule rules (scheduler.ts), the status
// and metrics views (status-view.ts), the repair queue (repair-queue.ts).
//
// States: idle (waiting for the schedule), running (a pass is going),
// paused (an operator paused it: no pass runs, the schedule waits), stopped
// (an operator stopped it: the schedule is off until `start`).
//
//   idle ──due / start──▶ running ──pass ends / window closes──▶ idle
//   running ──pause──▶ paused ──resume──▶ running (the same pass, from its cursor)
//   running / idle / paused ──stop──▶ stopped ──resume──▶ idle, ──start──▶ running
//   running ──daemon shutdown──▶ running on disk, resumed by the next daemon
//
// The checkpoint is written at least every `checkpointMs` while a pass runs
// and on every state change. Intensity, rate cap and schedule live in pool.json.
import { DfsError } from '../errors.js';
import { log } from '../log/index.js';
import { META_RECOVERED_AT } from '../catalog/index.js';
import type { ScrubScheduleConfig } from '../pool/index.js';
import type { Engine } from '../store/index.js';
import { loadCheckpoint, saveCheckpoint, type Checkpoint, type ScrubState } from './checkpoint.js';
import { isOff, parseDiskInFlight, parseDuration, parseIntensity, parseMaxLoad, parseMaxRate, type Intensity } from './intensity.js';
import { newPass, runPass, summaryOf, type PassState, type PassSummary, type ScrubTotals, type StopReason } from './pass.js';
import { AutoController, type AutoState } from './auto.js';
import { deadlinePacing, RateMeter, type DueGroup, type PacingView } from './deadline.js';
import { loadPerCpu, Pacer } from './pacing.js';
import { RepairQueue } from './repair-queue.js';
import { parseBool, parseFrequency, parseWindow } from './schedule.js';
import { Scheduler } from './scheduler.js';
import { passView, statusView, type ScrubStatus, type Segment } from './status-view.js';

/** How often the deadline's pace is worked out again (it reads the per-minute stamp counts). */
const PACING_EVERY_MS = 2000;

/** The state a pass's end leaves the scrubber in, by why it ended (a pass that finished leaves it idle). */
const AFTER_PASS: Record<StopReason, ScrubState> = { pause: 'paused', stop: 'stopped', window: 'idle', shutdown: 'running' };

export interface ScrubServiceOptions {
  /** Wall clock (ms); tests pass a fake one to drive schedules. */
  clock?: () => number;
  checkpointMs?: number;
  tickMs?: number;
  /** The host's load per CPU (the load gate's input); tests pass their own. */
  load?: () => number;
}

export interface OnceOptions {
  repair?: boolean;
  dryRun?: boolean;
  errorsOnly?: boolean;
  intensity?: unknown;
  maxRate?: unknown;
  /** Presence, size and header only (no payload read). */
  light?: boolean;
  /** Only extents last verified longer ago than this (a duration: 7d, 36h, 600s). */
  olderThan?: unknown;
  onProgress?: (done: number, total: number) => void;
}

export class ScrubService {
  readonly engine: Engine;
  readonly totals: ScrubTotals = { completed: 0, extentsScanned: 0, bytesScanned: 0, issuesFound: 0, repairsAttempted: 0, repairsSuccessful: 0 };
  readonly queue: RepairQueue;
  private readonly clock: () => number;
  private readonly checkpointMs: number;
  private readonly tickMs: number;
  private readonly scheduler: Scheduler;
  private persisted: Checkpoint;
  /** False when the stored checkpoint is from a newer version: it is left as it is. */
  private readonly checkpointWritable: boolean;
  /** True once this process hosts the background scrubber (the daemon). */
  private background = false;
  private current: PassState | null = null;
  private running: Promise<void> | null = null;
  private request: StopReason | null = null;
  private segment: Segment | null = null;
  private ticking = false;
  /** The running background pass's pacer. */
  private pacer: Pacer | null = null;
  /** `auto`'s controller, kept from pass to pass (what it learnt of the clients stays). */
  private readonly auto = new AutoController();
  /** The background pass's recent rate (the ETA's and the deadline's). */
  private readonly meter = new RateMeter();
  private pacingCache: { at: number; view: PacingView } | null = null;
  private readonly load: () => number;
  /** Rebuilds of disks failed by their error counts, running (a one-time pass waits for them before it answers). */
  private readonly faultRebuilds = new Set<Promise<void>>();
  private readonly unsubscribe: () => void;

  constructor(engine: Engine, options: ScrubServiceOptions = {}) {
    this.engine = engine;
    this.clock = options.clock ?? Date.now;
    this.checkpointMs = options.checkpointMs ?? 10_000;
    this.tickMs = options.tickMs ?? 1000;
    this.load = options.load ?? loadPerCpu;
    this.queue = new RepairQueue(engine, { ratePerSecond: () => this.config.repairRatePerSecond });
    this.scheduler = new Scheduler(engine.poolId, () => this.config, this.clock);
    const { checkpoint, writable } = loadCheckpoint(engine.catalog);
    this.persisted = checkpoint;
    this.checkpointWritable = writable;
    this.unsubscribe = engine.faults.onFailed((diskId) => this.rebuildFailedDisk(diskId));
  }

  /**
   * Queues the rebuild of every extent with a fragment on a disk the fault
   * manager failed (its `repair` events carry trigger `rebuild` and job
   * `fault-<disk>`).
   */
  private rebuildFailedDisk(diskId: string): void {
    const extentIds = this.engine.catalog.extentIdsOnDisk(diskId);
    const job = `fault-${diskId}`;
    log('scrub').warn({ disk: diskId, extents: extentIds.length, job }, 'rebuilding the extents of a disk failed by its error count');
    const work = Promise.all(extentIds.map((id) => this.queue.submit(id, { trigger: 'rebuild', job }).catch((error: unknown) => {
      log('scrub').error({ extent: id, disk: diskId, error: (error as Error).message }, 'rebuild of an extent of a failed disk failed');
      return null;
    }))).then((results) => {
      const repaired = results.filter((r) => r?.outcome === 'repaired' || r?.outcome === 'healthy').length;
      log('scrub').info({ disk: diskId, job, extents: extentIds.length, repaired }, 'rebuild of a failed disk finished');
    });
    this.faultRebuilds.add(work);
    void work.finally(() => this.faultRebuilds.delete(work));
  }

  /** Waits for the rebuilds of disks failed meanwhile. */
  private async settleFaultRebuilds(): Promise<void> {
    while (this.faultRebuilds.size) await Promise.all([...this.faultRebuilds]);
  }

  private get config(): ScrubScheduleConfig {
    return this.engine.config.scrub;
  }

  private persist(relaxed = false): void {
    if (this.checkpointWritable) saveCheckpoint(this.engine.catalog, this.persisted, relaxed);
  }

  private setState(state: ScrubState): void {
    if (this.persisted.state !== state) log('scrub').info({ from: this.persisted.state, to: state }, 'scrubber state');
    this.persisted.state = state;
    this.persist();
  }

  get state(): ScrubState {
    return this.persisted.state;
  }

  get intensity(): Intensity {
    return parseIntensity(this.config.intensity);
  }

  // ---- one-shot passes

  /** One pass over every extent (or, with errorsOnly, the extents with known problems). */
  async runOnce(options: OnceOptions = {}): Promise<PassSummary> {
    // A one-time pass is asked for by someone waiting for it: full speed unless told otherwise.
    const intensity = options.intensity === undefined ? 'high' : parseIntensity(options.intensity);
    const maxRate = options.maxRate === undefined ? this.config.maxRate : parseMaxRate(options.maxRate);
    const olderThanMs = options.olderThan === undefined || options.olderThan === null ? null : parseDuration(options.olderThan, 'older-than') * 1000;
    const extentIds = options.errorsOnly ? this.engine.catalog.extentIdsWithProblems() : undefined;
    const pass = newPass(this.engine, {
      trigger: 'cli', repair: options.repair ?? false, dryRun: options.dryRun ?? false, errorsOnly: options.errorsOnly ?? false, light: options.light ?? false, olderThanMs,
      ...(extentIds ? { extentIds } : {}),
    });
    log('scrub').info({ pass: pass.id, repair: pass.repair, dryRun: pass.dryRun, errorsOnly: pass.errorsOnly, light: pass.light, olderThanSeconds: pass.olderThanSeconds, intensity }, 'scrub pass started');
    const outcome = await runPass(this.engine, pass, {
      intensity: () => intensity,
      maxRate: () => maxRate,
      stopRequested: () => null,
      checkpoint: () => {},
      checkpointMs: Infinity,
      queue: this.queue,
      maxRepairsPerPass: this.config.maxRepairsPerPass,
      totals: this.totals,
      ...(extentIds ? { extentIds } : {}),
      ...(options.onProgress ? { onProgress: (p: PassState) => options.onProgress!(p.extentsScanned + p.extentsSkipped, p.extentsTotal) } : {}),
    });
    // A pass over part of the pool (known problems, a light check, an age cut) is not a complete pass.
    if (!pass.errorsOnly && !pass.light && pass.olderThanSeconds == null) this.completed(outcome.pass);
    await this.settleFaultRebuilds();
    return summaryOf(outcome.pass);
  }

  private completed(pass: PassState): void {
    this.totals.completed++;
    // A complete pass that wrote its findings has verified every payload a recovered catalogue only listed.
    if (!pass.dryRun && !pass.errorsOnly) this.engine.catalog.deleteMeta(META_RECOVERED_AT);
    this.persisted.lastPass = { ...summaryOf(pass), id: pass.id, trigger: pass.trigger };
    this.persisted.lastCompletedAt = this.clock();
    this.persist();
    log('scrub').info({
      pass: pass.id, extentsScanned: pass.extentsScanned, issuesFound: pass.issuesFound, repairsSuccessful: pass.repairsSuccessful,
      unrecoverable: pass.extents.unrecoverable, seconds: pass.durationSeconds,
    }, 'scrub pass completed');
  }

  // ---- the background scrubber (daemon)

  /** Takes over the background scrubber: resumes an interrupted pass, keeps a paused one paused, starts the scheduler. */
  startBackground(): void {
    if (this.background) return;
    this.background = true;
    const { state, pass } = this.persisted;
    if (state === 'running') {
      if (pass) this.launch(pass);
      else this.setState('idle');
    }
    this.requeueInterrupted();
    // A read that met a damaged fragment (and read around it) has its extent repaired now.
    this.engine.healer = (extentId) => {
      if (!this.config.autoRepair) return;
      void this.queue.submit(extentId, { trigger: 'read' }).catch((error: unknown) => log('scrub').error({ extent: extentId, error: (error as Error).message }, 'healing a read failed'));
    };
    // Disks failed by their error counts whose rebuild a restart interrupted.
    for (const d of this.engine.catalog.disks()) {
      if (d.state !== 'failed' || d.fragments === 0) continue;
      const [last] = this.engine.catalog.events({ type: 'disk_state', disk: d.id, limit: 1 });
      if (last?.trigger === 'fault' && last.state === 'failed') this.rebuildFailedDisk(d.id);
    }
    this.scheduler.start(this.tickMs, () => void this.tick());
  }

  /** Repairs queued by a pass that was killed before they ran. */
  private requeueInterrupted(): void {
    const queued = this.engine.catalog.extentIdsWithProblemAction('scrub', 'queued');
    for (const id of queued) {
      void this.queue.submit(id, { trigger: 'scrub', job: this.persisted.pass?.id ?? null }).then((r) => {
        if (r.outcome !== 'repaired' && r.outcome !== 'healthy' && r.outcome !== 'gone') {
          for (const f of this.engine.catalog.extent(id)?.fragments ?? []) if (f.state !== 'ok') this.engine.catalog.setProblemAction(id, f.index, r.outcome === 'unrecoverable' ? 'unrecoverable' : 'repair_failed');
        }
      }, (error: unknown) => log('scrub').error({ extent: id, error: (error as Error).message }, 'requeued repair failed'));
    }
    if (queued.length) log('scrub').info({ extents: queued.length }, 'repairs left queued by an interrupted pass requeued');
  }

  /** Runs a pass in the background; the state follows it. */
  private launch(pass: PassState): void {
    this.current = pass;
    this.request = null;
    this.segment = { startedAt: this.clock(), bytesAtStart: pass.bytesDone };
    this.persisted.pass = pass;
    this.persisted.lastRunAt = this.clock();
    this.setState('running');
    log('scrub').info({ pass: pass.id, trigger: pass.trigger, cursor: pass.cursor, extentsDone: pass.extentsScanned, resumed: pass.cursor > 0 }, pass.cursor > 0 ? 'scrub pass resumed' : 'scrub pass started');
    this.running = this.drive(pass).finally(() => {
      this.running = null;
      this.current = null;
      this.segment = null;
      this.pacer = null;
      this.pacingCache = null;
    });
  }

  private async drive(pass: PassState): Promise<void> {
    let outcome;
    this.meter.reset();
    this.pacer = new Pacer(this.engine, {
      intensity: () => this.intensity,
      maxRate: () => this.config.maxRate,
      targetRate: () => this.pacing().targetBytesPerSecond,
      maxLoad: () => this.config.maxLoad ?? null,
      diskMaxRate: () => this.config.diskMaxRate ?? null,
    }, this.load, this.auto);
    try {
      outcome = await runPass(this.engine, pass, {
        intensity: () => this.intensity,
        maxRate: () => this.config.maxRate,
        pacer: this.pacer,
        onProgress: (p) => this.meter.add(this.clock(), p.bytesDone),
        stopRequested: () => this.request ?? this.scheduler.windowClosed(pass),
        checkpoint: (p) => {
          this.persisted.pass = p;
          this.persist(true);
        },
        checkpointMs: this.checkpointMs,
        queue: this.queue,
        maxRepairsPerPass: this.config.maxRepairsPerPass,
        totals: this.totals,
      });
    } catch (error) {
      // A pass that cannot go on (the catalogue closed under it, the worker pool gone): keep its cursor.
      log('scrub').error({ pass: pass.id, error: (error as Error).message }, 'scrub pass interrupted');
      this.persisted.pass = pass;
      this.setState(this.request === 'shutdown' ? 'running' : 'idle');
      return;
    }
    if (outcome.finished) {
      this.persisted.pass = null;
      this.completed(outcome.pass);
    }
    const reason = outcome.reason ?? this.request;
    // A shutdown keeps "running" on disk, so that the next daemon resumes the pass.
    this.setState(reason ? AFTER_PASS[reason] : 'idle');
  }

  private async halt(reason: StopReason): Promise<void> {
    if (!this.running) return;
    this.request = reason;
    await this.running;
  }

  /** Starts a pass now (resuming an interrupted one), or resumes a paused one. */
  async start(): Promise<ScrubStatus> {
    this.background = true;
    if (!this.running) {
      const pass = this.persisted.pass ?? newPass(this.engine, { trigger: 'manual', repair: this.config.autoRepair, dryRun: this.config.dryRun });
      this.launch(pass);
    }
    return this.status();
  }

  async stop(): Promise<ScrubStatus> {
    await this.halt('stop');
    this.setState('stopped');
    return this.status();
  }

  async pause(): Promise<ScrubStatus> {
    await this.halt('pause');
    this.setState('paused');
    return this.status();
  }

  async resume(): Promise<ScrubStatus> {
    if (this.persisted.state === 'paused') {
      if (this.persisted.pass) this.launch(this.persisted.pass);
      else this.setState('idle');
    } else if (this.persisted.state === 'stopped') this.setState('idle');
    return this.status();
  }

  /** Changes intensity (and, when given, the rate cap) live; persisted in pool.json. */
  setIntensity(intensity: unknown, maxRate?: unknown): ScrubStatus {
    const next = { ...this.config, intensity: parseIntensity(intensity) };
    if (maxRate !== undefined) next.maxRate = parseMaxRate(maxRate);
    this.saveConfig(next);
    log('scrub').info({ intensity: next.intensity, maxRate: next.maxRate }, 'scrub intensity set');
    return this.status();
  }

  /** Changes the schedule (only the fields given); persisted in pool.json. */
  setSchedule(change: {
    frequency?: unknown; intensity?: unknown; dryRun?: unknown; autoRepair?: unknown; window?: unknown; maxRate?: unknown;
    verifyWithin?: unknown; maxLoad?: unknown; diskMaxRate?: unknown; diskInFlight?: unknown;
  }): ScrubStatus {
    const next: ScrubScheduleConfig = { ...this.config };
    if (change.frequency !== undefined) next.frequency = parseFrequency(change.frequency);
    if (change.intensity !== undefined) next.intensity = parseIntensity(change.intensity);
    if (change.dryRun !== undefined) next.dryRun = parseBool(change.dryRun, 'dry-run');
    if (change.autoRepair !== undefined) next.autoRepair = parseBool(change.autoRepair, 'auto-repair');
    if (change.window !== undefined) {
      parseWindow(change.window);
      next.window = String(change.window).trim();
    }
    if (change.maxRate !== undefined) next.maxRate = parseMaxRate(change.maxRate);
    if (change.verifyWithin !== undefined) next.verifyWithin = isOff(change.verifyWithin) ? null : parseDuration(change.verifyWithin, 'verify-within');
    if (change.maxLoad !== undefined) next.maxLoad = parseMaxLoad(change.maxLoad);
    if (change.diskMaxRate !== undefined) next.diskMaxRate = parseMaxRate(change.diskMaxRate);
    if (change.diskInFlight !== undefined) next.diskInFlight = parseDiskInFlight(change.diskInFlight);
    if (next.frequency !== this.config.frequency) next.since = new Date(this.clock()).toISOString();
    this.saveConfig(next);
    log('scrub').info({ schedule: next }, 'scrub schedule set');
    return this.status();
  }

  private saveConfig(scrub: ScrubScheduleConfig): void {
    this.engine.updateConfig({ ...this.engine.config, scrub });
    this.pacingCache = null;
  }

  /**
   * What is still to verify, grouped by last verification: the running pass's
   * extents (those last verified before it began; never verified: from its
   * start), or with no pass, every extent as a pass begun now would take
   * them. From the catalogue's per-minute stamp counts (a few rows), the
   * bytes spread evenly over the extents: the pace is as exact as a minute
   * in the deadline (deadlines are hours or days).
   */
  private dueGroups(pass: PassState | null, now: number): DueGroup[] {
    const before = pass ? pass.verifiedBefore ?? Date.parse(pass.startedAt) : now;
    const cut = Math.floor(before / 60_000);
    const minutes = this.engine.catalog.verifiedMinutes();
    const stamped = minutes.reduce((n, m) => n + m.n, 0);
    const never = Math.max(0, this.engine.catalog.extentCounts().total - stamped);
    // The minute the pass began holds stamps from before it (still to renew) and after (done): counted as still to renew.
    const groups = minutes.filter((m) => m.minute <= cut).map((m) => ({ verifiedAt: m.minute * 60_000, extents: m.n }));
    if (never > 0) groups.push({ verifiedAt: before, extents: never });
    const extents = groups.reduce((n, g) => n + g.extents, 0);
    const bytes = pass ? Math.max(0, pass.bytesTotal - pass.bytesDone) : this.engine.catalog.storedBytes();
    const perExtent = extents > 0 ? bytes / extents : 0;
    return groups.map((g) => ({ verifiedAt: g.verifiedAt, bytes: g.extents * perExtent }));
  }

  /** At `auto`, what the running pass's controller last decided (null otherwise). */
  autoState(): AutoState | null {
    return this.intensity === 'auto' && this.background ? this.auto.state() : null;
  }

  /** Whether the load gate holds the running background pass now. */
  loadGated(): boolean {
    return this.pacer?.gated() ?? false;
  }

  /**
   * The pace a deadline asks for, and whether it will be met (see
   * deadline.ts): worked out at most every PACING_EVERY_MS.
   */
  pacing(): PacingView {
    const now = this.clock();
    if (this.pacingCache && now - this.pacingCache.at < PACING_EVERY_MS) return this.pacingCache.view;
    const within = this.config.verifyWithin ?? null;
    const pass = this.current && !this.current.light && !this.current.dryRun ? this.current : null;
    const due = within === null ? [] : this.dueGroups(pass, now);
    const view = deadlinePacing({ now, verifyWithinMs: within === null ? null : within * 1000, due, recentRate: this.current ? this.meter.rate(now) : null });
    this.pacingCache = { at: now, view };
    return view;
  }

  /** The scheduler: starts a pass when one is due. Called every tickMs; tests call it with a fake clock. */
  async tick(): Promise<void> {
    if (!this.background || this.ticking || this.running || this.persisted.state !== 'idle') return;
    this.ticking = true;
    try {
      // With a deadline, passes run back to back (each paced to it); else the frequency decides.
      if (this.config.verifyWithin != null || this.scheduler.isDue(this.persisted.lastRunAt)) {
        const pass = this.persisted.pass ?? newPass(this.engine, { trigger: 'schedule', repair: this.config.autoRepair, dryRun: this.config.dryRun });
        if (pass.trigger !== 'schedule' && !this.persisted.pass) pass.trigger = 'schedule';
        this.launch(pass);
      }
    } finally {
      this.ticking = false;
    }
  }

  nextRunAt(): number | null {
    return this.scheduler.nextRunAt(this.persisted.lastRunAt);
  }

  overdue(): boolean {
    return this.scheduler.overdue(this.persisted.lastCompletedAt);
  }

  /** Waits for the running pass to checkpoint (the daemon's shutdown); the state on disk stays as it was. */
  async close(): Promise<void> {
    this.scheduler.stop();
    this.engine.healer = null;
    this.unsubscribe();
    await this.halt('shutdown');
  }

  /** What the metrics read on every scrape: no catalogue queries beyond a row or two. */
  metricsView(): { state: ScrubState; intensity: Intensity; maxRate: number | null; pass: ScrubStatus['pass']; lastCompletedAt: number | null; secondsSinceLastPass: number; overdue: boolean; repairsPaused: boolean } {
    const now = this.clock();
    const since = this.persisted.lastCompletedAt ?? (Date.parse(this.config.since) || now);
    const pass = this.passView(now);
    return {
      state: this.visibleState(), intensity: this.intensity, maxRate: this.config.maxRate, pass, lastCompletedAt: this.persisted.lastCompletedAt,
      secondsSinceLastPass: Math.max(0, (now - since) / 1000), overdue: this.overdue(),
      repairsPaused: pass?.repairsPaused ?? this.persisted.lastPass?.repairsPaused ?? false,
    };
  }

  private visibleState(): ScrubState {
    return this.background ? this.persisted.state : (this.persisted.state === 'running' ? 'stopped' : this.persisted.state);
  }

  private passView(now: number): ScrubStatus['pass'] {
    return passView(this.current ?? this.persisted.pass, this.current ? this.segment : null, now, this.current ? this.meter.rate(now) : null);
  }

  status(): ScrubStatus {
    return statusView(this.engine.catalog, {
      state: this.visibleState(), daemon: this.background, intensity: this.intensity, config: this.config, checkpoint: this.persisted,
      pass: this.passView(this.clock()), nextRunAt: this.nextRunAt(), overdue: this.overdue(), repairQueueLength: this.queue.length, totals: this.totals,
      pacing: this.pacing(), auto: this.autoState(), loadGated: this.loadGated(),
    });
  }
}

const services = new WeakMap<Engine, ScrubService>();

/**
 * The scrubber of an open pool (one per engine). Options apply when it is
 * created: given again later they would be ignored, so that is refused.
 */
export function scrubService(engine: Engine, options?: ScrubServiceOptions): ScrubService {
  let service = services.get(engine);
  if (service && options) throw new DfsError('DFS_ERR_INTERNAL_UNEXPECTED', 'the scrubber of this pool exists already: its options were set when it was created');
  if (!service) services.set(engine, (service = new ScrubService(engine, options)));
  return service;
}

