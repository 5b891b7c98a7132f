// What `scrub-daemon status` and the metrics show: pure functions of the
// checkpoint, the running pass, the schedule and the clock.
import type { Catalog } from '../catalog/index.js';
import type { ScrubScheduleConfig } from '../pool/index.js';
import type { Checkpoint, ScrubState } from './checkpoint.js';
import type { AutoState } from './auto.js';
import type { PacingView } from './deadline.js';
import type { Intensity } from './intensity.js';
import { MAX_LISTED, type PassState, type PassSummary, type ScrubTotals } from './pass.js';

/** How long (ms) a run segment must have lasted before its rate gives an ETA. */
export const ETA_AFTER_MS = 5000;

/** The stretch of a pass this process has run (since it started or resumed it): its rate gives the ETA. */
export interface Segment {
  startedAt: number;
  bytesAtStart: number;
}

export type PassView = NonNullable<ScrubStatus['pass']>;

export interface ScrubStatus {
  state: ScrubState;
  /** Whether this process hosts the background scrubber. */
  daemon: boolean;
  intensity: Intensity;
  maxRate: number | null;
  schedule: {
    frequency: string; intensity: string; window: string; dryRun: boolean; autoRepair: boolean;
    maxRepairsPerPass: number; repairRatePerSecond: number; nextRunAt: string | null; overdue: boolean;
    verifyWithinSeconds: number | null; maxLoad: number | null; diskMaxRate: number | null; diskInFlight: number | null;
  };
  pass: {
    id: string; trigger: string; startedAt: string; dryRun: boolean; repair: boolean;
    extentsDone: number; extentsTotal: number; bytesDone: number; bytesTotal: number; progress: number;
    rateBytesPerSecond: number; eta: number | null; etaAt: string | null;
    issuesFound: number; repairsAttempted: number; repairsSuccessful: number; repairsPaused: boolean;
  } | null;
  lastPass: (PassSummary & { id: string; trigger: string }) | null;
  lastCompletedAt: string | null;
  /** How the pace is set: a deadline (--verify-within) or the intensity alone; see deadline.ts. */
  pacing: PacingView;
  /** At `auto` in the daemon: the controller's level (share of full speed), whether clients are busy, and their p99 with and without scrubbing (ms), as it last decided. */
  auto: AutoState | null;
  /** Whether the load gate (--max-load) holds background passes now. */
  loadGated: boolean;
  overdue: boolean;
  repairQueue: { length: number; paused: boolean };
  problems: { key: string; extent: string; seq: number; fragment: number; disk: string | null; kind: string; action: string; source: string; detectedAt: string }[];
  problemsTotal: number;
  metrics: { extentsScanned: number; issuesFound: number; repairsAttempted: number; repairsSuccessful: number; ioBytes: number; passesCompleted: number };
}

/**
 * A pass's progress, with a rate and an ETA: from `recentRate` (the last
 * half-minute's, see RateMeter) when known, else from the running segment
 * once it has lasted ETA_AFTER_MS.
 */
export function passView(pass: PassState | null, segment: Segment | null, now: number, recentRate: number | null = null): PassView | null {
  if (!pass) return null;
  const elapsed = segment ? now - segment.startedAt : 0;
  const segmentRate = segment && elapsed > 0 ? ((pass.bytesDone - segment.bytesAtStart) * 1000) / elapsed : 0;
  const rate = segment && recentRate !== null ? recentRate : segmentRate;
  const left = Math.max(0, pass.bytesTotal - pass.bytesDone);
  const eta = segment && (recentRate !== null || elapsed >= ETA_AFTER_MS) && rate > 0 ? Math.round(left / rate) : null;
  const done = pass.extentsScanned + pass.extentsSkipped;
  return {
    id: pass.id, trigger: pass.trigger, startedAt: pass.startedAt, dryRun: pass.dryRun, repair: pass.repair,
    extentsDone: done, extentsTotal: Math.max(pass.extentsTotal, done),
    bytesDone: pass.bytesDone, bytesTotal: Math.max(pass.bytesTotal, pass.bytesDone),
    progress: pass.extentsTotal > 0 ? Math.min(1, done / pass.extentsTotal) : 0,
    rateBytesPerSecond: Math.round(rate), eta, etaAt: eta === null ? null : new Date(now + eta * 1000).toISOString(),
    issuesFound: pass.issuesFound, repairsAttempted: pass.repairsAttempted, repairsSuccessful: pass.repairsSuccessful, repairsPaused: pass.repairsPaused,
  };
}

export interface StatusInputs {
  state: ScrubState;
  daemon: boolean;
  intensity: Intensity;
  config: ScrubScheduleConfig;
  checkpoint: Checkpoint;
  pass: PassView | null;
  nextRunAt: number | null;
  overdue: boolean;
  repairQueueLength: number;
  totals: ScrubTotals;
  pacing: PacingView;
  auto: AutoState | null;
  loadGated: boolean;
}

export function statusView(catalog: Catalog, s: StatusInputs): ScrubStatus {
  const { config } = s;
  const problems = catalog.problemsDetailed(MAX_LISTED).map((p) => ({
    key: p.key ?? '', extent: p.extentId, seq: p.seq ?? -1, fragment: p.index, disk: p.diskId, kind: p.kind, action: p.action, source: p.source,
    detectedAt: new Date(p.detectedAt).toISOString(),
  }));
  return {
    state: s.state,
    daemon: s.daemon,
    intensity: s.intensity,
    maxRate: config.maxRate,
    schedule: {
      frequency: config.frequency, intensity: config.intensity, window: config.window, dryRun: config.dryRun, autoRepair: config.autoRepair,
      maxRepairsPerPass: config.maxRepairsPerPass, repairRatePerSecond: config.repairRatePerSecond,
      verifyWithinSeconds: config.verifyWithin ?? null, maxLoad: config.maxLoad ?? null, diskMaxRate: config.diskMaxRate ?? null, diskInFlight: config.diskInFlight ?? null,
      nextRunAt: s.nextRunAt === null ? null : new Date(s.nextRunAt).toISOString(), overdue: s.overdue,
    },
    pass: s.pass,
    lastPass: s.checkpoint.lastPass,
    lastCompletedAt: s.checkpoint.lastCompletedAt === null ? null : new Date(s.checkpoint.lastCompletedAt).toISOString(),
    pacing: s.pacing,
    auto: s.auto,
    loadGated: s.loadGated,
    overdue: s.overdue,
    repairQueue: { length: s.repairQueueLength, paused: s.pass?.repairsPaused ?? s.checkpoint.pass?.repairsPaused ?? false },
    problems,
    problemsTotal: catalog.problemsCount(),
    metrics: {
      extentsScanned: s.totals.extentsScanned, issuesFound: s.totals.issuesFound, repairsAttempted: s.totals.repairsAttempted,
      repairsSuccessful: s.totals.repairsSuccessful, ioBytes: s.totals.bytesScanned, passesCompleted: s.totals.completed,
    },
  };
}
