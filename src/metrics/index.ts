// One prom-client registry for the daemon, with every metric name that
// operators' alert rules and dashboards use, exactly. Values are read from the engine's own counters at scrape time
// (incrementally maintained: a scrape never scans the catalogue). Counters
// that mirror an engine counter advance by the difference since the last
// scrape, so they stay monotonic as Prometheus expects.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Engine } from '../store/index.js';
import { EVENT_TYPES, type DiskState } from '../catalog/index.js';
import { READ_TIME_BUCKETS, diskGate, gateIndexOf, type DiskReadStats, type KernelPoolStats } from '../kernels/index.js';
import { parsePolicy, policyTolerance } from '../pool/index.js';
import { HEALTH_STATUSES, poolHealth } from '../store/index.js';
import { INTENSITIES, SCRUB_STATES, type ScrubService } from '../scrub/index.js';

export { parseMetricsText, type MetricSample } from './text.js';

export interface MetricsSources {
  engine: Engine;
  /** The pool's scrubber (the daemon's); scrub metrics read zero without one. */
  scrub?: ScrubService;
  /** Subscribes the task-duration histogram to the worker pool. */
  onWorkers?: (observe: (op: string, seconds: number) => void) => void;
  /**
   * false: the pool's state only (no daemon runs). The counters of a
   * process's own work (disk I/O and errors, cache, workers, buffers,
   * process metrics) belong to a running daemon: a one-shot command has
   * none to show, and zeros would read as "no errors".
   */
  live?: boolean;
}

type Reading = [labels: Record<string, string>, value: number][];

/** How often the event-loop lag (nodejs_eventloop_lag_*) is sampled, in ms. */
export const EVENT_LOOP_SAMPLE_MS = 1000;

/** A counter that follows a monotonic value kept elsewhere. */
function mirroredCounter(registry: Registry, name: string, help: string, labelNames: string[], read: () => Reading): void {
  const last = new Map<string, number>();
  new Counter({
    name, help, labelNames, registers: [registry],
    collect() {
      for (const [labels, value] of read()) {
        const id = JSON.stringify(labels);
        const delta = value - (last.get(id) ?? 0);
        if (delta > 0) this.inc(labels, delta);
        else this.inc(labels, 0); // present from the first scrape on
        last.set(id, Math.max(value, last.get(id) ?? 0));
      }
    },
  });
}

/**
 * A counter under its original name, which lacks Prometheus's `_total`
 * suffix, and again under the conventional `<name>_total`: existing alert
 * rules keep working, and new ones can use the name Prometheus users look for.
 */
function counterWithTotal(registry: Registry, name: string, help: string, labelNames: string[], read: () => Reading): void {
  mirroredCounter(registry, name, help, labelNames, read);
  mirroredCounter(registry, `${name}_total`, `${help} (The same counter as ${name}, under the conventional name.)`, labelNames, read);
}

function gauge(registry: Registry, name: string, help: string, labelNames: string[], read: () => Reading): void {
  let samples = 0;
  const metric = new Gauge({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset();
      samples = 0;
      for (const [labels, value] of read()) {
        this.set(labels, value);
        samples++;
      }
    },
  });
  // prom-client answers a gauge without labels with 0 when nothing was set: a reading with no samples
  // (an ETA not yet known, no deadline) must be absent instead, or an alert on `== 0` would fire.
  const get = metric.get.bind(metric);
  metric.get = async () => {
    const value = await get();
    return samples === 0 ? { ...value, values: [] } : value;
  };
}

/**
 * A histogram whose counts are kept elsewhere (the read queue's shared
 * memory, written by every thread): each scrape sets it to them.
 */
function sharedHistogram(registry: Registry, name: string, help: string, buckets: number[], read: () => [Record<string, string>, DiskReadStats][]): void {
  new Histogram({
    name, help, labelNames: ['disk'], buckets, registers: [registry],
    collect() {
      this.reset();
      // prom-client keeps each label set's own (not cumulative) bucket counts, its sum and its count here.
      const entries = (this as unknown as { hashMap: Record<string, { labels: Record<string, string>; bucketValues: Record<number, number>; sum: number; count: number }> }).hashMap;
      for (const [labels, stats] of read()) {
        this.zero(labels);
        const entry = Object.values(entries).find((e) => e.labels.disk === labels.disk)!;
        buckets.forEach((bound, i) => { entry.bucketValues[bound] = stats.counts[i]!; });
        entry.count = stats.reads;
        entry.sum = stats.sumSeconds;
      }
    },
  });
}

const DISK_STATES: readonly DiskState[] = ['healthy', 'degraded', 'suspect', 'draining', 'failed'];

export function createMetricsRegistry(sources: MetricsSources): Registry {
  const registry = new Registry();
  const { engine } = sources;
  const perDisk = (pick: (c: { reads: number; writes: number; readBytes: number; writeBytes: number; errors: number }) => number): Reading => {
    const io = engine.io.snapshot();
    return engine.catalog.diskStates().map((d) => {
      const c = io.get(d.id) ?? { reads: 0, writes: 0, readBytes: 0, writeBytes: 0, errors: 0 };
      return [{ disk: d.id }, pick(c)];
    });
  };

  const live = sources.live ?? true;
  // Disk I/O. The byte counters keep their original names, without _total, beside the conventional ones.
  if (live) mirroredCounter(registry, 'dynamicfs_disk_reads_total', 'Fragment reads per disk.', ['disk'], () => perDisk((c) => c.reads));
  if (live) mirroredCounter(registry, 'dynamicfs_disk_writes_total', 'Fragment writes per disk.', ['disk'], () => perDisk((c) => c.writes));
  if (live) counterWithTotal(registry, 'dynamicfs_disk_read_bytes', 'Bytes read from fragment files per disk.', ['disk'], () => perDisk((c) => c.readBytes));
  if (live) counterWithTotal(registry, 'dynamicfs_disk_write_bytes', 'Bytes written to fragment files per disk.', ['disk'], () => perDisk((c) => c.writeBytes));
  if (live) mirroredCounter(registry, 'dynamicfs_disk_errors_total', 'I/O errors and failed probes per disk.', ['disk'], () => perDisk((c) => c.errors));
  if (live) mirroredCounter(registry, 'dynamicfs_disk_iops_total', 'Fragment reads and writes per disk.', ['disk'], () => perDisk((c) => c.reads + c.writes));

  // The per-disk read queue (every thread's reads, the scrubber's included).
  if (live) {
    const gate = diskGate();
    const disksWithGates = () => engine.catalog.diskStates().map((d) => ({ disk: d.id, stats: gate.stats(gateIndexOf(d.id)) }));
    gauge(registry, 'dynamicfs_disk_reads_in_flight', 'Fragment reads at each disk now (bounded by reads.perDiskInFlight).', ['disk'], () =>
      disksWithGates().map(({ disk, stats }) => [{ disk }, stats.inFlight]));
    sharedHistogram(registry, 'dynamicfs_disk_read_duration_seconds', 'Time of each fragment read at its disk (open and read), per disk.', READ_TIME_BUCKETS, () =>
      disksWithGates().map(({ disk, stats }) => [{ disk }, stats]));
    mirroredCounter(registry, 'dynamicfs_read_hedges_total', 'Extent reads that went around a slow fragment (past reads.hedgeAfterMs, or on a disk slow lately): from parity under EC, from another replica under replication.', [], () =>
      [[{}, gate.hedges]]);
  }

  // Capacity and state per disk.
  const infos = () => engine.catalog.disks().map((d) => engine.disks.info(d));
  gauge(registry, 'dynamicfs_disk_capacity_bytes', 'Filesystem size under each disk folder (statfs).', ['disk'], () => infos().map((d) => [{ disk: d.id }, d.capacityBytes]));
  gauge(registry, 'dynamicfs_disk_used_bytes', 'Filesystem bytes in use under each disk folder (statfs).', ['disk'], () => infos().map((d) => [{ disk: d.id }, d.usedBytes]));
  gauge(registry, 'dynamicfs_disk_stored_bytes', 'Bytes of fragment files on each disk (catalogue).', ['disk'], () => engine.catalog.disks().map((d) => [{ disk: d.id }, d.storedBytes]));
  gauge(registry, 'dynamicfs_disk_state', 'Disk state: 1 for the state the disk is in.', ['disk', 'state'], () =>
    engine.catalog.diskStates().flatMap((d) => DISK_STATES.map((s): [Record<string, string>, number] => [{ disk: d.id, state: s }, d.state === s ? 1 : 0])));

  // The repair journal (trigger-kept counters in the catalogue: they persist across restarts and
  // count what one-shot commands found too). Errors per disk and class are its problem events.
  const journal = () => engine.catalog.counters();
  const diskErrors = (cls: string) => (): Reading => {
    const c = journal();
    return engine.catalog.diskStates().map((d) => [{ disk: d.id }, c[`disk_errors:${d.id}:${cls}`] ?? 0]);
  };
  mirroredCounter(registry, 'dynamicfs_disk_checksum_errors_total', 'Fragments found with bad bytes on each disk (checksum mismatch, bad header, misplaced, truncated), by reads, scrubs and repairs.', ['disk'], diskErrors('checksum'));
  mirroredCounter(registry, 'dynamicfs_disk_io_errors_total', 'Fragments that could not be read (an I/O error) on each disk, by reads, scrubs and repairs.', ['disk'], diskErrors('io'));
  mirroredCounter(registry, 'dynamicfs_disk_missing_errors_total', 'Fragments found missing on each disk, by reads, scrubs, repairs and rebuilds.', ['disk'], diskErrors('missing'));
  mirroredCounter(registry, 'dynamicfs_disk_faults_total', 'Disks set suspect or failed by their own error counts (fault management), per disk and state.', ['disk', 'state'], () => {
    const c = journal();
    return engine.catalog.diskStates().flatMap((d) => (['suspect', 'failed'] as const).map((state): [Record<string, string>, number] => [{ disk: d.id, state }, c[`disk_faults:${d.id}:${state}`] ?? 0]));
  });
  mirroredCounter(registry, 'dynamicfs_events_total', 'Events written to the repair journal, by type.', ['type'], () => {
    const c = journal();
    return EVENT_TYPES.map((type): [Record<string, string>, number] => [{ type }, c[`events:${type}`] ?? 0]);
  });
  gauge(registry, 'dynamicfs_events_bytes', 'Size of the repair journal as its retention counts it (pool.json events.maxBytes bounds it).', [], () => [[{}, engine.catalog.eventBytes()]]);

  // Extents by state (trigger-maintained counters in the catalogue).
  const counts = () => engine.catalog.extentCounts();
  gauge(registry, 'dynamicfs_extents_healthy', 'Extents with every fragment verified good.', [], () => [[{}, counts().healthy]]);
  gauge(registry, 'dynamicfs_extents_degraded', 'Extents missing fragments but still readable.', [], () => [[{}, counts().degraded]]);
  gauge(registry, 'dynamicfs_extents_unrecoverable', 'Extents with fewer good fragments than needed to read them.', [], () => [[{}, counts().unrecoverable]]);
  gauge(registry, 'dynamicfs_objects', 'Objects in the pool.', [], () => [[{}, engine.catalog.counters().objects ?? 0]]);
  gauge(registry, 'dynamicfs_logical_bytes', 'Bytes of object data in the pool.', [], () => [[{}, engine.catalog.counters().logical_bytes ?? 0]]);

  // Packs of small objects: their bytes and live bytes (what compaction would reclaim is the difference), and group commits.
  const packTotals = () => engine.catalog.packTotals();
  gauge(registry, 'dynamicfs_packs', 'Packs (extents holding small objects) in the pool.', [], () => [[{}, packTotals().packs]]);
  gauge(registry, 'dynamicfs_pack_bytes', 'Bytes of the pool\'s packs, by kind: all, and live (still part of an object).', ['kind'], () => {
    const t = packTotals();
    return [[{ kind: 'all' }, t.bytes], [{ kind: 'live' }, t.liveBytes]];
  });
  if (live) mirroredCounter(registry, 'dynamicfs_pack_groups_written_total', 'Group commits of small objects written (one pack each).', [], () => [[{}, engine.packs.stats.groupsWritten]]);
  if (live) mirroredCounter(registry, 'dynamicfs_pack_objects_written_total', 'Small objects written in group commits.', [], () => [[{}, engine.packs.stats.objectsWritten]]);

  // Pool health (the document of GET /health, counters only) and how many disks the default policy may lose.
  gauge(registry, 'dynamicfs_health_status', 'Pool health as GET /health reports it: 1 for the current status.', ['status'], () => {
    const status = poolHealth(engine).status;
    return HEALTH_STATUSES.map((s) => [{ status: s }, s === status ? 1 : 0]);
  });
  gauge(registry, 'dynamicfs_pool_failure_tolerance', 'Disks the default policy can lose without losing data (M of ec:K+M, N-1 of replication:N).', [], () => [[{}, policyTolerance(parsePolicy(engine.config.defaultPolicy))]]);

  // Rebuilds (this process's own work).
  if (live) {
    const rb = engine.rebuildStats;
    counterWithTotal(registry, 'dynamicfs_rebuilds_attempted', 'Extent rebuilds attempted.', [], () => [[{}, rb.attempted]]);
    counterWithTotal(registry, 'dynamicfs_rebuilds_successful', 'Extent rebuilds that restored redundancy.', [], () => [[{}, rb.successful]]);
    counterWithTotal(registry, 'dynamicfs_rebuilds_failed', 'Extent rebuilds that failed.', [], () => [[{}, rb.failed]]);
    counterWithTotal(registry, 'dynamicfs_rebuild_bytes_written', 'Bytes written by rebuilds.', [], () => [[{}, rb.bytesWritten]]);
  }

  // Scrub: the counters (original names and _total ones), then state, intensity, pass progress and rate, schedule health.
  const service = sources.scrub;
  const totals = () => service?.totals ?? { completed: 0, extentsScanned: 0, bytesScanned: 0, issuesFound: 0, repairsAttempted: 0, repairsSuccessful: 0 };
  if (live) counterWithTotal(registry, 'dynamicfs_scrubs_completed', 'Scrub passes completed.', [], () => [[{}, totals().completed]]);
  if (live) counterWithTotal(registry, 'dynamicfs_scrub_issues_found', 'Bad fragments found by scrubs.', [], () => [[{}, totals().issuesFound]]);
  if (live) counterWithTotal(registry, 'dynamicfs_scrub_repairs_attempted', 'Fragment repairs attempted by scrubs.', [], () => [[{}, totals().repairsAttempted]]);
  if (live) counterWithTotal(registry, 'dynamicfs_scrub_repairs_successful', 'Fragment repairs by scrubs that succeeded.', [], () => [[{}, totals().repairsSuccessful]]);
  if (live) mirroredCounter(registry, 'dynamicfs_scrub_extents_scanned_total', 'Extents checked by scrubs.', [], () => [[{}, totals().extentsScanned]]);
  if (live) mirroredCounter(registry, 'dynamicfs_scrub_extents_checked_total', 'Extents checked by scrubs (the same counter as dynamicfs_scrub_extents_scanned_total).', [], () => [[{}, totals().extentsScanned]]);
  if (live) mirroredCounter(registry, 'dynamicfs_scrub_read_bytes_total', 'Bytes of fragment files read by scrubs.', [], () => [[{}, totals().bytesScanned]]);
  if (service) {
    const view = () => service.metricsView();
    gauge(registry, 'dynamicfs_scrub_state', 'Background scrubber state: 1 for the state it is in.', ['state'], () => SCRUB_STATES.map((st) => [{ state: st }, view().state === st ? 1 : 0]));
    gauge(registry, 'dynamicfs_scrub_intensity', 'Scrub intensity: 1 for the one in force.', ['intensity'], () => INTENSITIES.map((i) => [{ intensity: i }, view().intensity === i ? 1 : 0]));
    gauge(registry, 'dynamicfs_scrub_max_rate_bytes', 'Byte-rate cap of scrub reads (0: none).', [], () => [[{}, view().maxRate ?? 0]]);
    gauge(registry, 'dynamicfs_scrub_pass_progress_ratio', 'Share of the current pass done (0 with no pass).', [], () => [[{}, view().pass?.progress ?? 0]]);
    gauge(registry, 'dynamicfs_scrub_pass_extents', 'Extents of the current pass, done and in total.', ['kind'], () => [[{ kind: 'done' }, view().pass?.extentsDone ?? 0], [{ kind: 'total' }, view().pass?.extentsTotal ?? 0]]);
    gauge(registry, 'dynamicfs_scrub_pass_bytes', 'Fragment bytes of the current pass, done and in total.', ['kind'], () => [[{ kind: 'done' }, view().pass?.bytesDone ?? 0], [{ kind: 'total' }, view().pass?.bytesTotal ?? 0]]);
    gauge(registry, 'dynamicfs_scrub_rate_bytes_per_second', 'Scrub rate of the current pass since it last (re)started.', [], () => [[{}, view().pass?.rateBytesPerSecond ?? 0]]);
    gauge(registry, 'dynamicfs_scrub_eta_seconds', 'Estimated seconds left in the current pass (absent until meaningful).', [], () => {
      const eta = view().pass?.eta;
      return eta === null || eta === undefined ? [] : [[{}, eta]];
    });
    gauge(registry, 'dynamicfs_scrub_last_completed_timestamp_seconds', 'When the last scrub pass completed (absent before the first).', [], () => {
      const at = view().lastCompletedAt;
      return at === null ? [] : [[{}, at / 1000]];
    });
    gauge(registry, 'dynamicfs_scrub_seconds_since_last_pass', 'Seconds since the last scrub pass completed (since the schedule began, before the first).', [], () => [[{}, view().secondsSinceLastPass]]);
    gauge(registry, 'dynamicfs_scrub_overdue', '1 when no pass has completed within 1.5x the schedule interval.', [], () => [[{}, view().overdue ? 1 : 0]]);
    gauge(registry, 'dynamicfs_scrub_repair_queue_length', 'Scrub repairs waiting or running.', [], () => [[{}, service.queue.length]]);
    gauge(registry, 'dynamicfs_scrub_repairs_paused', '1 when auto-repair stopped at the per-pass cap in the current or last pass.', [], () => [[{}, view().repairsPaused ? 1 : 0]]);
    gauge(registry, 'dynamicfs_scrub_known_problems', 'Bad fragments known and not yet repaired.', [], () => [[{}, engine.catalog.problemsCount()]]);
    // Pacing to a deadline (--verify-within) and the auto controller: absent when not in force.
    gauge(registry, 'dynamicfs_scrub_verify_within_seconds', 'The verification deadline: every extent verified within this long (absent without one).', [], () => {
      const within = service.pacing().verifyWithinSeconds;
      return within === null ? [] : [[{}, within]];
    });
    gauge(registry, 'dynamicfs_scrub_deadline_on_track', '1 when scrubbing keeps up with the verification deadline at its recent rate, 0 when it will miss it (absent without a deadline).', [], () => {
      const onTrack = service.pacing().onTrack;
      return onTrack === null ? [] : [[{}, onTrack ? 1 : 0]];
    });
    gauge(registry, 'dynamicfs_scrub_target_rate_bytes_per_second', 'The scrub rate the verification deadline asks for now (absent without a deadline).', [], () => {
      const target = service.pacing().targetBytesPerSecond;
      return target === null ? [] : [[{}, target]];
    });
    gauge(registry, 'dynamicfs_scrub_auto_level_ratio', 'At intensity auto: the scrubber\'s share of its full speed (1 while clients are idle; absent otherwise).', [], () => {
      const auto = service.autoState();
      return auto ? [[{}, auto.level]] : [];
    });
    gauge(registry, 'dynamicfs_scrub_client_latency_p99_seconds', 'At intensity auto: the clients\' p99 latency while scrubbing and without scrubbing (the baseline), as last measured.', ['kind'], () => {
      const auto = service.autoState();
      if (!auto) return [];
      const out: [Record<string, string>, number][] = [];
      if (auto.p99Ms !== null) out.push([{ kind: 'scrubbing' }, auto.p99Ms / 1000]);
      if (auto.baselineP99Ms !== null) out.push([{ kind: 'baseline' }, auto.baselineP99Ms / 1000]);
      return out;
    });
    gauge(registry, 'dynamicfs_scrub_load_gated', '1 while the load gate (--max-load) holds background passes.', [], () => [[{}, service.loadGated() ? 1 : 0]]);
  }

  // How long ago extents were last verified, from per-minute counts (a few rows, no scan).
  const AGE_BUCKETS = [3600, 6 * 3600, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 90 * 86400];
  const ageHelp = 'How long ago each verified extent was last verified by a scrub (minute resolution).';
  registry.registerMetric({
    name: 'dynamicfs_extent_verification_age_seconds',
    help: ageHelp,
    type: 'histogram',
    async get() {
      const now = Date.now();
      const counts = new Array<number>(AGE_BUCKETS.length).fill(0);
      let count = 0;
      let sum = 0;
      for (const { minute, n } of engine.catalog.verifiedMinutes()) {
        const age = Math.max(0, (now - minute * 60_000) / 1000);
        count += n;
        sum += age * n;
        AGE_BUCKETS.forEach((le, i) => { if (age <= le) counts[i]! += n; });
      }
      const name = 'dynamicfs_extent_verification_age_seconds';
      return {
        name, help: ageHelp, type: 'histogram', aggregator: 'sum',
        values: [
          ...AGE_BUCKETS.map((le, i) => ({ metricName: `${name}_bucket`, labels: { le }, value: counts[i]! })),
          { metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: count },
          { metricName: `${name}_sum`, labels: {}, value: sum },
          { metricName: `${name}_count`, labels: {}, value: count },
        ],
      };
    },
  } as never);
  gauge(registry, 'dynamicfs_extents_never_verified', 'Extents no scrub has verified yet.', [], () => {
    const verified = engine.catalog.verifiedMinutes().reduce((n, r) => n + r.n, 0);
    return [[{}, Math.max(0, counts().total - verified)]];
  });

  // Extent cache, buffers and worker pools (this process's own).
  if (live) {
    // Extent cache.
    counterWithTotal(registry, 'dynamicfs_cache_hits', 'Extent cache hits.', [], () => [[{}, engine.cache.stats().hits]]);
    counterWithTotal(registry, 'dynamicfs_cache_misses', 'Extent cache misses.', [], () => [[{}, engine.cache.stats().misses]]);
    gauge(registry, 'dynamicfs_cache_hit_rate', 'Extent cache hits / lookups since start (0 before the first lookup).', [], () => [[{}, engine.cache.stats().hitRate]]);
    gauge(registry, 'dynamicfs_cache_bytes', 'Bytes held by the extent cache.', [], () => [[{}, engine.cache.stats().bytes]]);

    // The buffer arena (memory.bufferBytes): what is leased, what is free, and requests that waited for it.
    const buffers = () => engine.bufferStats() ?? { budgetBytes: engine.config.memory.bufferBytes, inUseBytes: 0, freeBytes: engine.config.memory.bufferBytes, leases: 0, waiting: 0, waits: 0, waitSeconds: 0 };
    gauge(registry, 'dynamicfs_buffer_budget_bytes', 'Size of the buffer arena (memory.bufferBytes in pool.json).', [], () => [[{}, buffers().budgetBytes]]);
    gauge(registry, 'dynamicfs_buffer_in_use_bytes', 'Bytes of the buffer arena leased to requests (whole blocks).', [], () => [[{}, buffers().inUseBytes]]);
    gauge(registry, 'dynamicfs_buffer_free_bytes', 'Bytes of the buffer arena free.', [], () => [[{}, buffers().freeBytes]]);
    gauge(registry, 'dynamicfs_buffer_leases', 'Buffers leased from the arena now.', [], () => [[{}, buffers().leases]]);
    gauge(registry, 'dynamicfs_buffer_waiting', 'Requests waiting for buffer memory now.', [], () => [[{}, buffers().waiting]]);
    mirroredCounter(registry, 'dynamicfs_buffer_waits_total', 'Requests that had to wait for buffer memory (backpressure).', [], () => [[{}, buffers().waits]]);
    mirroredCounter(registry, 'dynamicfs_buffer_wait_seconds_total', 'Time requests spent waiting for buffer memory.', [], () => [[{}, buffers().waitSeconds]]);

    // Worker pools. piscina computes its percentiles from a full histogram on every
    // read (~2 ms here): one snapshot serves every worker gauge of a scrape.
    const snapshots = (read: () => KernelPoolStats | null) => {
      let snapshot: { at: number; stats: KernelPoolStats | null } = { at: 0, stats: null };
      return () => {
        const now = Date.now();
        if (now - snapshot.at > 500) snapshot = { at: now, stats: read() };
        return snapshot.stats;
      };
    };
    const pool = snapshots(() => engine.pools.started().foreground?.stats() ?? null);
    gauge(registry, 'dynamicfs_worker_threads', 'Worker threads running.', [], () => [[{}, pool()?.threads ?? 0]]);
    gauge(registry, 'dynamicfs_worker_queue_size', 'Kernel tasks waiting for a worker.', [], () => [[{}, pool()?.queueSize ?? 0]]);
    gauge(registry, 'dynamicfs_worker_utilization_ratio', 'Share of worker capacity spent running tasks since start.', [], () => [[{}, pool()?.utilization ?? 0]]);
    mirroredCounter(registry, 'dynamicfs_worker_tasks_completed_total', 'Kernel tasks completed.', [], () => [[{}, pool()?.completed ?? 0]]);
    // piscina's own run and wait percentiles (its histograms are not Prometheus ones).
    for (const [kind, pick] of [['run', (p: NonNullable<ReturnType<typeof pool>>) => p.runTimeMs], ['wait', (p: NonNullable<ReturnType<typeof pool>>) => p.waitTimeMs]] as const) {
      for (const q of ['p50', 'p99'] as const) {
        gauge(registry, `dynamicfs_worker_task_${kind}_seconds_${q}`, `Kernel task ${kind === 'run' ? 'run' : 'queue wait'} time, ${q} since start (piscina).`, [], () => {
          const p = pool();
          return [[{}, p ? pick(p)[q] / 1000 : 0]];
        });
      }
    }
    // End to end (queue + run + hand-off) per operation, as a Prometheus histogram.
    const taskSeconds = new Histogram({
      name: 'dynamicfs_worker_task_duration_seconds',
      help: 'Kernel task time from submission to result, by operation.',
      labelNames: ['op'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    });
    sources.onWorkers?.((op, seconds) => taskSeconds.observe({ op }, seconds));
    // The scrubber's own (lower-priority) pool: its threads and how busy they are.
    const background = snapshots(() => engine.pools.started().background?.stats() ?? null);
    gauge(registry, 'dynamicfs_scrub_worker_threads', 'Threads of the scrubber\'s worker pool (lower CPU priority).', [], () => [[{}, background()?.threads ?? 0]]);
    gauge(registry, 'dynamicfs_scrub_worker_utilization_ratio', 'Share of the scrubber\'s worker capacity spent running tasks since start.', [], () => [[{}, background()?.utilization ?? 0]]);
  }

  // The event-loop lag histogram samples once a second, not prom-client's every 10 ms: each sample wakes
  // the event loop, and its timer alone kept an idle daemon at 0.3% of a core (a bare node process: 0.30%
  // at 10 ms, 0.10% at 100 ms; the daemon idle 0.17% at 100 ms, 0.12–0.15% at 1 s). A stall still shows
  // whole: the timer is always pending, so a blocked loop records one sample as long as the block.
  if (live) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  return registry;
}
