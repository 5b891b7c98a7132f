// One scrub pass: every extent in catalogue order from a cursor,
// checked in the worker pool in batches (workers read the fragment files
// themselves), classified, and — with repair on — its bad fragments queued for
// rebuild from verified ones. The pass is plain data (PassState) so that the
// daemon can persist it and resume it after a restart.
//
// An extent deleted or rewritten while it was being checked is not reported:
// each result is compared with the catalogue as it is after the check, and a
// finding about a fragment that has moved or changed since is dropped.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { log } from '../log/index.js';
import type { ExtentWithFragments, FragmentProblem, FragmentRow } from '../catalog/index.js';
import { SCRUB_STATUSES, type ScrubOutcome } from '../kernels/index.js';
import type { Engine } from '../store/index.js';
import { parseHex64 } from '../store/index.js';
import { PACING, SCAN_IDLE_MS, type Intensity } from './intensity.js';
import type { RepairQueue } from './repair-queue.js';

export type ProblemKind = Exclude<ScrubOutcome['status'], 'ok'>;
export type ProblemAction = 'reported' | 'queued' | 'repaired' | 'repair_failed' | 'repair_paused' | 'unrecoverable' | 'would_repair' | 'gone';

export interface ScrubProblem {
  key: string;
  extent: string;
  seq: number;
  fragment: number;
  disk: string | null;
  kind: ProblemKind;
  action: ProblemAction;
}

/** A pass's summary (`scrub --json` and a daemon pass). */
export interface PassSummary {
  extentsScanned: number;
  bytesScanned: number;
  fragmentsChecked: number;
  issuesFound: number;
  repairsAttempted: number;
  repairsSuccessful: number;
  extents: { healthy: number; degraded: number; repaired: number; unrecoverable: number };
  problems: ScrubProblem[];
  /** Problems beyond the first MAX_LISTED, counted but not listed. */
  problemsOmitted: number;
  /** Extents deleted or rewritten while being checked (not judged). */
  extentsSkipped: number;
  /** Extents whose check itself failed (a worker error, not a bad fragment): not judged, and the pass says problems remain. */
  checksFailed: number;
  dryRun: boolean;
  repair: boolean;
  errorsOnly: boolean;
  /** Auto-repair stopped at the per-pass cap; the rest were reported only. */
  repairsPaused: boolean;
  startedAt: string;
  finishedAt: string | null;
  durationSeconds: number;
}

export interface PassState extends PassSummary {
  id: string;
  trigger: 'cli' | 'manual' | 'schedule';
  /** Catalogue order (extents.ord) of the last extent done. */
  cursor: number;
  /** The newest extent when the pass began: extents written later wait for the next pass (a busy pool cannot keep a pass from ending). */
  endOrd: number;
  extentsTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** Time spent running in earlier segments (before the last pause or restart), ms. */
  activeMs: number;
}

export const MAX_LISTED = 1000;
/** Verification stamps are written when this many wait, or this long after the last write. */
const STAMP_BATCH = 500;
const STAMP_EVERY_MS = 1000;

export function newPass(engine: Engine, options: { trigger: PassState['trigger']; repair: boolean; dryRun: boolean; errorsOnly?: boolean; extentIds?: readonly string[] }): PassState {
  const counts = engine.catalog.extentCounts();
  return {
    id: randomBytes(6).toString('hex'),
    trigger: options.trigger,
    cursor: 0,
    endOrd: engine.catalog.maxOrd(),
    extentsTotal: options.extentIds ? options.extentIds.length : counts.total,
    bytesDone: 0,
    bytesTotal: options.extentIds ? 0 : engine.catalog.storedBytes(),
    activeMs: 0,
    extentsScanned: 0, bytesScanned: 0, fragmentsChecked: 0, issuesFound: 0, repairsAttempted: 0, repairsSuccessful: 0,
    extents: { healthy: 0, degraded: 0, repaired: 0, unrecoverable: 0 },
    problems: [], problemsOmitted: 0, extentsSkipped: 0, checksFailed: 0,
    dryRun: options.dryRun, repair: options.repair, errorsOnly: options.errorsOnly ?? false, repairsPaused: false,
    startedAt: new Date().toISOString(), finishedAt: null, durationSeconds: 0,
  };
}

export function summaryOf(pass: PassState): PassSummary {
  const { id: _id, trigger: _t, cursor: _c, endOrd: _e, extentsTotal: _et, bytesDone: _bd, bytesTotal: _bt, activeMs: _a, ...summary } = pass;
  return { ...summary, problems: summary.problems.map((p) => ({ ...p })), extents: { ...summary.extents } };
}

/** Counters that outlive a pass (the dynamicfs_scrub* metrics). */
export interface ScrubTotals {
  completed: number;
  extentsScanned: number;
  bytesScanned: number;
  issuesFound: number;
  repairsAttempted: number;
  repairsSuccessful: number;
}

export type StopReason = 'pause' | 'stop' | 'shutdown' | 'window';

export interface PassControl {
  intensity(): Intensity;
  maxRate(): number | null;
  /** Asked between batches; a reason ends the pass early (checkpointed, resumable). */
  stopRequested(): StopReason | null;
  /** Persist the pass (at least every `checkpointMs` and when it ends early). */
  checkpoint(pass: PassState): void;
  checkpointMs: number;
  queue: RepairQueue;
  maxRepairsPerPass: number;
  totals: ScrubTotals;
  /** Ids of the extents to check instead of the whole catalogue (`--errors-only`). */
  extentIds?: readonly string[];
  onProgress?(pass: PassState): void;
}

export interface PassOutcome {
  pass: PassState;
  finished: boolean;
  reason: StopReason | null;
}

interface Checked {
  extent: ExtentWithFragments;
  snapshot: (FragmentRow | null)[];
  outcomes: ScrubOutcome[] | null;
  error?: string;
}

/**
 * Checks a batch in the worker pool as one packed page (see ScrubPageTask),
 * or (`oneByOne`) as one page per extent, each sent when the one before has
 * finished, so that a client's read waits behind at most one extent's check,
 * not the whole batch's.
 */
async function checkBatch(engine: Engine, extents: ExtentWithFragments[], oneByOne: boolean): Promise<Checked[]> {
  const diskPaths: string[] = [];
  const diskSlots = new Map<string, number>();
  const slotOf = (diskId: string): number => {
    let slot = diskSlots.get(diskId);
    if (slot === undefined) {
      const disk = engine.catalog.diskRef(diskId);
      slot = !disk || disk.state === 'failed' ? -1 : diskPaths.push(disk.path) - 1; // a failed disk's fragments count as missing
      diskSlots.set(diskId, slot);
    }
    return slot;
  };
  const pageOf = (list: ExtentWithFragments[]) => {
    const fragments = list.reduce((n, e) => n + e.width, 0);
    const page = { poolId: engine.poolId, diskPaths, extentIds: list.map((e) => e.id), shape: new Uint32Array(list.length * 3), disks: new Int32Array(fragments).fill(-1), expected: new BigUint64Array(fragments) };
    const snapshots: (FragmentRow | null)[][] = [];
    let at = 0;
    list.forEach((extent, e) => {
      page.shape.set([extent.fragmentLength, extent.payloadOffset, extent.width], e * 3);
      const snapshot: (FragmentRow | null)[] = new Array<FragmentRow | null>(extent.width).fill(null);
      for (const f of extent.fragments) {
        if (f.index >= extent.width) continue;
        snapshot[f.index] = f;
        page.disks[at + f.index] = slotOf(f.diskId);
        page.expected[at + f.index] = parseHex64(f.checksum);
      }
      snapshots.push(snapshot);
      at += extent.width;
    });
    return { page, snapshots };
  };
  const check = async (list: ExtentWithFragments[]): Promise<Checked[]> => {
    const { page, snapshots } = pageOf(list);
    const result = await engine.backgroundWorkers().scrubPage(page);
    const failed = new Map(result.errors);
    const errnos = new Map(result.errnos);
    let at = 0;
    return list.map((extent, e) => {
      const first = at;
      at += extent.width;
      const error = failed.get(e);
      if (error) return { extent, snapshot: snapshots[e]!, outcomes: null, error: error.message };
      const outcomes: ScrubOutcome[] = [];
      for (let i = first; i < at; i++) {
        const outcome: ScrubOutcome = { status: SCRUB_STATUSES[result.status[i]!]!, bytes: result.bytes[i]! };
        const errno = errnos.get(i);
        if (errno) outcome.errno = errno;
        outcomes.push(outcome);
      }
      return { extent, snapshot: snapshots[e]!, outcomes };
    });
  };
  if (!oneByOne) return check(extents);
  const checked: Checked[] = [];
  for (const extent of extents) checked.push(...(await check([extent])));
  return checked;
}

function sameFragment(a: FragmentRow | null | undefined, b: FragmentRow | null | undefined): boolean {
  if (!a || !b) return !a && !b;
  return a.diskId === b.diskId && a.checksum === b.checksum;
}

/**
 * Runs (or resumes) a pass until every extent is done or the control asks it
 * to stop. Repairs it queued are awaited before it returns.
 */
export async function runPass(engine: Engine, pass: PassState, control: PassControl): Promise<PassOutcome> {
  const logger = log('scrub');
  const segmentStarted = performance.now();
  let lastCheckpoint = performance.now();
  let rateWindow = { started: performance.now(), bytes: 0, cap: control.maxRate() };
  const repairs: Promise<void>[] = [];
  let pendingRepairFragments = 0;
  let listIndex = 0;
  let dispatchCursor = pass.cursor;
  let exhausted = false;
  const inflight: { promise: Promise<Checked[]>; afterOrd: number; lastOrd: number; count: number }[] = [];
  // Verification stamps are written together, at most about once a second: one small catalogue write per
  // batch (ten a second at low) measurably lengthened foreground GETs. They are also written before each
  // checkpoint, so a pass resumed after a crash never skips extents whose stamps were lost.
  const stamps: string[] = [];
  let stampedAt = performance.now();
  const writeStamps = (force: boolean) => {
    if (stamps.length === 0 || (!force && stamps.length < STAMP_BATCH && performance.now() - stampedAt < STAMP_EVERY_MS)) return;
    engine.catalog.markVerified(stamps.splice(0), Date.now());
    stampedAt = performance.now();
  };

  const nextPage = (size: number): ExtentWithFragments[] => {
    if (control.extentIds) {
      const page: ExtentWithFragments[] = [];
      while (page.length < size && listIndex < control.extentIds.length) {
        const extent = engine.catalog.extent(control.extentIds[listIndex++]!);
        if (extent) page.push(extent);
        else pass.extentsSkipped++;
      }
      return page;
    }
    const end = pass.endOrd ?? Number.MAX_SAFE_INTEGER;
    return dispatchCursor >= end ? [] : engine.catalog.extentsAfter(dispatchCursor, size).filter((e) => e.ord <= end);
  };

  const listProblem = (p: ScrubProblem): ScrubProblem => {
    if (pass.problems.length < MAX_LISTED) pass.problems.push(p);
    else pass.problemsOmitted++;
    return p;
  };

  const apply = (checked: Checked, verified: string[], now: ExtentWithFragments | null): void => {
    if (!now) {
      pass.extentsSkipped++; // deleted or rewritten meanwhile: nothing to judge
      return;
    }
    pass.extentsScanned++;
    control.totals.extentsScanned++;
    pass.fragmentsChecked += now.width;
    for (const f of checked.snapshot) pass.bytesDone += f?.bytes ?? 0;
    if (checked.outcomes === null) {
      // The check itself failed (a bug, not a bad fragment): say so, judge nothing.
      logger.error({ extent: now.id, error: checked.error }, 'scrub check failed');
      pass.checksFailed = (pass.checksFailed ?? 0) + 1; // a pass resumed from an older checkpoint has no count yet
      return;
    }
    const bytes = checked.outcomes.reduce((n, o) => n + o.bytes, 0);
    pass.bytesScanned += bytes;
    control.totals.bytesScanned += bytes;
    rateWindow.bytes += bytes;
    checked.outcomes.forEach((o, index) => {
      const f = checked.snapshot[index];
      if (f && o.bytes > 0) engine.io.read(f.diskId, o.bytes);
    });
    const bad: FragmentProblem[] = [];
    const cleared: number[] = [];
    checked.outcomes.forEach((o, index) => {
      const current = now.fragments.find((f) => f.index === index) ?? null;
      if (!sameFragment(current, checked.snapshot[index])) return; // moved or rewritten while we read it
      if (o.status === 'ok') {
        if (current && current.state !== 'ok') cleared.push(index);
        return;
      }
      bad.push({ index, diskId: current?.diskId ?? null, kind: o.status });
    });
    if (cleared.length && !pass.dryRun) engine.catalog.clearProblems(now.id, cleared);
    if (bad.length === 0) {
      pass.extents.healthy++;
      verified.push(now.id);
      return;
    }
    pass.issuesFound += bad.length;
    control.totals.issuesFound += bad.length;
    const good = now.width - bad.length;
    // The object's key only where there is something to report (not a query per healthy extent).
    const base = { key: engine.catalog.objectById(now.objectId)?.key ?? '', extent: now.id, seq: now.seq };
    const listed = (action: ProblemAction) => bad.map((b) => listProblem({ ...base, fragment: b.index, disk: b.diskId, kind: b.kind as ProblemKind, action }));
    if (good < now.need) {
      pass.extents.unrecoverable++;
      listed('unrecoverable');
      if (!pass.dryRun) engine.catalog.recordProblems(now.id, bad, 'scrub', 'unrecoverable');
      logger.error({ key: base.key, extent: now.id, seq: now.seq, bad: bad.length, need: now.need, width: now.width }, 'extent unrecoverable');
      return;
    }
    if (pass.dryRun) {
      pass.extents.degraded++;
      listed(pass.repair ? 'would_repair' : 'reported');
      return;
    }
    if (!pass.repair) {
      pass.extents.degraded++;
      listed('reported');
      engine.catalog.recordProblems(now.id, bad, 'scrub', 'reported');
      return;
    }
    if (pass.repairsAttempted + pendingRepairFragments + bad.length > control.maxRepairsPerPass) {
      if (!pass.repairsPaused) logger.warn({ cap: control.maxRepairsPerPass, pass: pass.id }, 'auto-repair paused: this pass reached its repair cap; further problems are reported only');
      pass.repairsPaused = true;
      pass.extents.degraded++;
      listed('repair_paused');
      engine.catalog.recordProblems(now.id, bad, 'scrub', 'repair_paused');
      return;
    }
    const entries = listed('queued');
    engine.catalog.recordProblems(now.id, bad, 'scrub', 'queued');
    pendingRepairFragments += bad.length;
    repairs.push(control.queue.submit(now.id).then((result) => {
      pendingRepairFragments -= bad.length;
      pass.repairsAttempted += bad.length;
      control.totals.repairsAttempted += bad.length;
      let action: ProblemAction;
      if (result.outcome === 'repaired' || result.outcome === 'healthy') {
        action = 'repaired';
        pass.extents.repaired++;
        const rebuilt = result.outcome === 'repaired' ? Math.min(result.rebuilt, bad.length) : 0;
        pass.repairsSuccessful += rebuilt;
        control.totals.repairsSuccessful += rebuilt;
        engine.catalog.markVerified([now.id], Date.now());
      } else if (result.outcome === 'gone') {
        action = 'gone';
        pass.extentsSkipped++;
      } else {
        action = result.outcome === 'unrecoverable' ? 'unrecoverable' : 'repair_failed';
        if (result.outcome === 'unrecoverable') pass.extents.unrecoverable++;
        else pass.extents.degraded++;
        for (const b of bad) engine.catalog.setProblemAction(now.id, b.index, action);
        logger.warn({ key: base.key, extent: now.id, outcome: result.outcome, error: result.error }, 'scrub repair did not restore the extent');
      }
      for (const e of entries) e.action = action;
      if (action === 'repaired') logger.info({ key: base.key, extent: now.id, fragments: bad.map((b) => b.index), kinds: bad.map((b) => b.kind) }, 'extent repaired');
    }));
  };

  let reason: StopReason | null = null;
  for (;;) {
    reason = control.stopRequested();
    const intensity = control.intensity();
    const pacing = PACING[intensity];
    const idle = pacing.pauseOnlyWhenBusy && engine.foreground.idleMs() >= SCAN_IDLE_MS;
    const maxInFlight = idle ? pacing.idleInFlight ?? pacing.inFlight : pacing.inFlight;
    while (!reason && !exhausted && inflight.length < maxInFlight) {
      const page = nextPage(pacing.batch);
      if (page.length === 0) {
        exhausted = true;
        break;
      }
      const afterOrd = dispatchCursor;
      dispatchCursor = page[page.length - 1]!.ord;
      inflight.push({ promise: checkBatch(engine, page, pacing.oneByOne ?? (pacing.oneByOneWhenBusy === true && !idle)), afterOrd, lastOrd: dispatchCursor, count: page.length });
    }
    const head = inflight.shift();
    if (!head) break;
    const checked = await head.promise;
    const verified: string[] = [];
    // Findings are judged against the catalogue as it is now (an extent deleted or rewritten meanwhile is not
    // corrupt). Extents whose every fragment checked out, and that had no known problem, need no second look.
    const suspect = checked.filter((c) => c.outcomes === null || c.outcomes.some((o) => o.status !== 'ok') || c.snapshot.some((f) => f !== null && f.state !== 'ok'));
    let current: Map<string, ExtentWithFragments | null> = new Map();
    if (suspect.length > 4 && !control.extentIds) {
      const now = new Map(engine.catalog.extentsAfter(head.afterOrd, head.count).filter((e) => e.ord <= head.lastOrd).map((e) => [e.id, e]));
      current = new Map(suspect.map((c) => [c.extent.id, now.get(c.extent.id) ?? null]));
    } else for (const c of suspect) current.set(c.extent.id, engine.catalog.extent(c.extent.id));
    for (const c of checked) apply(c, verified, current.has(c.extent.id) ? current.get(c.extent.id)! : c.extent);
    if (!pass.dryRun) {
      for (const id of verified) stamps.push(id);
      writeStamps(false);
    }
    if (!control.extentIds) pass.cursor = head.lastOrd;
    control.onProgress?.(pass);
    if (performance.now() - lastCheckpoint >= control.checkpointMs) {
      pass.durationSeconds = (pass.activeMs + performance.now() - segmentStarted) / 1000;
      writeStamps(true); // a persisted cursor never runs ahead of the stamps of the extents behind it
      control.checkpoint(pass);
      lastCheckpoint = performance.now();
    }
    if (reason && inflight.length === 0) break;
    // Pace: the intensity's pause, longer when the byte-rate cap needs it.
    const cap = control.maxRate();
    if (cap !== rateWindow.cap) rateWindow = { started: performance.now(), bytes: 0, cap };
    let wait = pacing.pauseOnlyWhenBusy && engine.foreground.idleMs() >= SCAN_IDLE_MS ? 0 : pacing.sleepMs;
    if (cap) wait = Math.max(wait, (rateWindow.bytes / cap) * 1000 - (performance.now() - rateWindow.started));
    if (wait > 0 && (inflight.length > 0 || !exhausted)) await sleep(wait);
  }
  writeStamps(true);
  await Promise.all(repairs);
  pass.activeMs += performance.now() - segmentStarted;
  pass.durationSeconds = pass.activeMs / 1000;
  if (reason && !exhausted) {
    control.checkpoint(pass);
    return { pass, finished: false, reason };
  }
  pass.finishedAt = new Date().toISOString();
  return { pass, finished: true, reason: null };
}

/** Problems left after a pass: anything not repaired. */
export function problemsRemain(summary: PassSummary): boolean {
  return summary.extents.degraded + summary.extents.unrecoverable + (summary.checksFailed ?? 0) > 0 || summary.problems.some((p) => p.action !== 'repaired' && p.action !== 'gone') || summary.problemsOmitted > 0;
}
