// One scrub pass: every extent once, riskiest first, checked in the worker
// pool in batches (workers read the fragment files themselves), classified,
// and — with repair on — its bad fragments queued for rebuild from verified
// ones. The pass is plain data (PassState) so that the daemon can persist it
// and resume it after a restart.
//
// The order (a pass begun by an earlier version keeps catalogue order):
// 1. suspect extents: a problem recorded by a read or an earlier pass, a
//    fragment not ok, or a fragment on a disk that is not healthy; least
//    margin first (good fragments beyond the minimum);
// 2. then every other extent by margin (width - need: a replication:2 extent
//    before an ec:4+2 one), then oldest verification first, along the
//    catalogue's extents_by_risk index. The pass covers the extents last
//    verified before it began (or before its --older-than cut): one it
//    verifies gets a newer stamp and so falls out of the range behind the
//    cursor, and one written after the pass began waits for the next.
//
// An extent deleted or rewritten while it was being checked is not reported:
// each result is compared with the catalogue as it is after the check, and a
// finding about a fragment that has moved or changed since is dropped.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { log } from '../log/index.js';
import { riskKey, type EventOrigin, type ExtentWithFragments, type FragmentProblem, type RiskKey } from '../catalog/index.js';
import type { ScrubOutcome } from '../kernels/index.js';
import type { Engine } from '../store/index.js';
import { classify, needsSecondLook } from './classify.js';
import type { Intensity } from './intensity.js';
import { checkBatch, type Checked } from './page.js';
import { Pacer } from './pacing.js';
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
  /** The pass's id: the job of the journal's events about it. */
  id: string;
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
  /** A light pass: presence, size and header of each fragment, no payload read. */
  light?: boolean;
  /** Only extents last verified longer ago than this were checked (`--older-than`), in seconds; null: all. */
  olderThanSeconds?: number | null;
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
  /** 'risk': the order above (a pass begun by an earlier version has none: catalogue order, by `cursor`). */
  order?: 'risk';
  /** Risk order: the suspect extents, checked first, and how many of them are done. */
  suspects?: string[];
  suspectsDone?: number;
  /** Risk order: the last row done of the rest (null: none yet). */
  riskCursor?: RiskKey | null;
  /** Risk order: the pass covers extents last verified before this (ms). */
  verifiedBefore?: number;
}

export const MAX_LISTED = 1000;
/** Verification stamps are written when this many wait, or this long after the last write. */
const STAMP_BATCH = 500;
const STAMP_EVERY_MS = 1000;
/** Suspect extents listed up front at most; any beyond come in their place in the risk order. */
export const MAX_SUSPECTS = 10_000;

export interface NewPassOptions {
  trigger: PassState['trigger'];
  repair: boolean;
  dryRun: boolean;
  errorsOnly?: boolean;
  extentIds?: readonly string[];
  /** A light pass (see PassSummary.light). */
  light?: boolean;
  /** Only extents last verified more than this long ago (ms); suspect extents are checked whatever their age. */
  olderThanMs?: number | null;
}

export function newPass(engine: Engine, options: NewPassOptions): PassState {
  const startedAt = Date.now();
  const endOrd = engine.catalog.maxOrd();
  const base = {
    id: randomBytes(6).toString('hex'),
    trigger: options.trigger,
    cursor: 0,
    endOrd,
    bytesDone: 0,
    activeMs: 0,
    extentsScanned: 0, bytesScanned: 0, fragmentsChecked: 0, issuesFound: 0, repairsAttempted: 0, repairsSuccessful: 0,
    extents: { healthy: 0, degraded: 0, repaired: 0, unrecoverable: 0 },
    problems: [], problemsOmitted: 0, extentsSkipped: 0, checksFailed: 0,
    dryRun: options.dryRun, repair: options.repair, errorsOnly: options.errorsOnly ?? false, repairsPaused: false,
    light: options.light ?? false, olderThanSeconds: options.olderThanMs == null ? null : options.olderThanMs / 1000,
    startedAt: new Date(startedAt).toISOString(), finishedAt: null, durationSeconds: 0,
  };
  if (options.extentIds) return { ...base, extentsTotal: options.extentIds.length, bytesTotal: 0 };
  const verifiedBefore = options.olderThanMs == null ? startedAt : Math.min(startedAt, startedAt - options.olderThanMs);
  const suspects = engine.catalog.suspectExtents(endOrd, MAX_SUSPECTS);
  const covered = options.olderThanMs == null ? { extents: engine.catalog.extentCounts().total, bytes: engine.catalog.storedBytes() } : engine.catalog.riskTotals(verifiedBefore, endOrd);
  return {
    ...base,
    // Suspects outside the age cut are checked too (roughly counted: their bytes are not known here).
    extentsTotal: Math.max(covered.extents, suspects.length),
    bytesTotal: covered.bytes,
    order: 'risk',
    suspects: suspects.map((s) => s.id),
    suspectsDone: 0,
    riskCursor: null,
    verifiedBefore,
  };
}

export function summaryOf(pass: PassState): PassSummary {
  const {
    trigger: _t, cursor: _c, endOrd: _e, extentsTotal: _et, bytesDone: _bd, bytesTotal: _bt, activeMs: _a,
    order: _o, suspects: _s, suspectsDone: _sd, riskCursor: _rc, verifiedBefore: _vb, ...summary
  } = pass;
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
  /** The pacer to go by (the daemon's, which also paces to a deadline and gates on load); by default one from intensity() and maxRate(). */
  pacer?: Pacer;
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
  /** Called with each page of extents as it is sent to be checked, in the pass's order. */
  onDispatch?(extents: readonly ExtentWithFragments[]): void;
}

export interface PassOutcome {
  pass: PassState;
  finished: boolean;
  reason: StopReason | null;
}

/**
 * Runs (or resumes) a pass until every extent is done or the control asks it
 * to stop. Pages are read from the catalogue and checked in the workers
 * (page.ts), at the pace pacing.ts sets; each checked extent is judged by
 * classify.ts, and the verdict applied here. Repairs it queued are awaited
 * before it returns.
 */
export async function runPass(engine: Engine, pass: PassState, control: PassControl): Promise<PassOutcome> {
  const logger = log('scrub');
  // What the journal says found and repaired what this pass found.
  const origin: EventOrigin = { trigger: 'scrub', job: pass.id };
  const segmentStarted = performance.now();
  let lastCheckpoint = performance.now();
  const pacer = control.pacer ?? new Pacer(engine, { intensity: control.intensity, maxRate: control.maxRate });
  const repairs: Promise<void>[] = [];
  let pendingRepairFragments = 0;
  let listIndex = 0;
  let dispatchCursor = pass.cursor;
  // Risk order: where dispatch is (a page is sent before the one ahead of it is done).
  let dispatchSuspects = pass.suspectsDone ?? 0;
  let dispatchRisk: RiskKey | null = pass.riskCursor ?? null;
  const suspectIds = new Set(pass.suspects ?? []);
  let exhausted = false;
  /** Where a risk-ordered pass stands once a page is done (a pass in catalogue order: lastOrd). */
  interface Position { suspectsDone: number; riskCursor: RiskKey | null }
  const inflight: { promise: Promise<Checked[]>; afterOrd: number; lastOrd: number; count: number; position: Position; sentAt: number }[] = [];
  // Verification stamps are written together, at most about once a second: one small catalogue write per
  // batch (ten a second at low) measurably lengthened foreground GETs. They are also written before each
  // checkpoint, so a pass resumed after a crash never skips extents whose stamps were lost.
  const stamps: string[] = [];
  let stampedAt = performance.now();
  const writeStamps = (force: boolean) => {
    if (stamps.length === 0 || (!force && stamps.length < STAMP_BATCH && performance.now() - stampedAt < STAMP_EVERY_MS)) return;
    if (pass.light) engine.catalog.markLightChecked(stamps.splice(0), Date.now());
    else engine.catalog.markVerified(stamps.splice(0), Date.now());
    stampedAt = performance.now();
  };

  const riskPage = (size: number): ExtentWithFragments[] => {
    const page: ExtentWithFragments[] = [];
    const suspects = pass.suspects ?? [];
    while (page.length < size && dispatchSuspects < suspects.length) {
      const extent = engine.catalog.extent(suspects[dispatchSuspects++]!);
      if (extent) page.push(extent);
      else pass.extentsSkipped++;
    }
    if (page.length > 0) return page;
    const end = pass.endOrd ?? Number.MAX_SAFE_INTEGER;
    for (;;) {
      const rows = engine.catalog.extentsByRisk(dispatchRisk, pass.verifiedBefore ?? 0, end, size);
      if (rows.length === 0) return page;
      dispatchRisk = riskKey(rows[rows.length - 1]!);
      // The suspects were checked first: not again.
      for (const e of rows) if (!suspectIds.has(e.id)) page.push(e);
      if (page.length > 0) return page;
    }
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
    if (pass.order === 'risk') return riskPage(size);
    const end = pass.endOrd ?? Number.MAX_SAFE_INTEGER;
    return dispatchCursor >= end ? [] : engine.catalog.extentsAfter(dispatchCursor, size).filter((e) => e.ord <= end);
  };

  const listProblem = (p: ScrubProblem): ScrubProblem => {
    if (pass.problems.length < MAX_LISTED) pass.problems.push(p);
    else pass.problemsOmitted++;
    return p;
  };

  /** Counts what was read (the pass's totals, the disks' I/O counters, the rate cap). */
  const countRead = (checked: Checked, now: ExtentWithFragments): void => {
    pass.extentsScanned++;
    control.totals.extentsScanned++;
    pass.fragmentsChecked += now.width;
    for (const f of checked.snapshot) pass.bytesDone += f?.bytes ?? 0;
    if (checked.outcomes === null) return;
    const bytes = checked.outcomes.reduce((n, o) => n + o.bytes, 0);
    pass.bytesScanned += bytes;
    control.totals.bytesScanned += bytes;
    pacer.read(bytes);
    checked.outcomes.forEach((o, index) => {
      const f = checked.snapshot[index];
      if (f && o.bytes > 0) {
        engine.io.read(f.diskId, o.bytes);
        pacer.readFrom(f.diskId, o.bytes);
      }
    });
  };

  const queueRepair = (now: ExtentWithFragments, bad: FragmentProblem[], entries: ScrubProblem[], key: string): void => {
    engine.noteProblems(now.id, bad, 'scrub', 'queued', origin);
    pendingRepairFragments += bad.length;
    repairs.push(control.queue.submit(now.id, origin).then((result) => {
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
        logger.warn({ key, extent: now.id, outcome: result.outcome, error: result.error }, 'scrub repair did not restore the extent');
      }
      for (const e of entries) e.action = action;
      if (action === 'repaired') logger.info({ key, extent: now.id, fragments: bad.map((b) => b.index), kinds: bad.map((b) => b.kind) }, 'extent repaired');
    }));
  };

  /** Applies one extent's verdict: counts, problem records, the repair queue. */
  const apply = (checked: Checked, verified: string[], now: ExtentWithFragments | null): void => {
    const verdict = classify(checked, now, { dryRun: pass.dryRun, repair: pass.repair, repairRoom: control.maxRepairsPerPass - pass.repairsAttempted - pendingRepairFragments, light: pass.light === true });
    if (verdict.kind === 'skipped' || !now) {
      pass.extentsSkipped++;
      return;
    }
    countRead(checked, now);
    if (verdict.kind === 'check_failed') {
      logger.error({ extent: now.id, error: verdict.error }, 'scrub check failed');
      pass.checksFailed = (pass.checksFailed ?? 0) + 1; // a pass resumed from an older checkpoint has no count yet
      return;
    }
    if (verdict.cleared.length && !pass.dryRun) engine.catalog.clearProblems(now.id, verdict.cleared, origin);
    if (verdict.kind === 'healthy') {
      pass.extents.healthy++;
      verified.push(now.id);
      return;
    }
    const { bad } = verdict;
    pass.issuesFound += bad.length;
    control.totals.issuesFound += bad.length;
    // The object's key only where there is something to report (not a query per healthy extent).
    const key = engine.catalog.objectById(now.objectId)?.key ?? '';
    const listed = (action: ProblemAction) => bad.map((b) => listProblem({ key, extent: now.id, seq: now.seq, fragment: b.index, disk: b.diskId, kind: b.kind as ProblemKind, action }));
    switch (verdict.kind) {
      case 'unrecoverable':
        pass.extents.unrecoverable++;
        listed('unrecoverable');
        if (!pass.dryRun) engine.noteProblems(now.id, bad, 'scrub', 'unrecoverable', origin);
        logger.error({ key, extent: now.id, seq: now.seq, bad: bad.length, need: now.need, width: now.width }, 'extent unrecoverable');
        return;
      case 'degraded':
        pass.extents.degraded++;
        listed(verdict.action);
        if (verdict.action === 'repair_paused') {
          if (!pass.repairsPaused) logger.warn({ cap: control.maxRepairsPerPass, pass: pass.id }, 'auto-repair paused: this pass reached its repair cap; further problems are reported only');
          pass.repairsPaused = true;
        }
        if (!pass.dryRun) engine.noteProblems(now.id, bad, 'scrub', verdict.action, origin);
        return;
      case 'repair':
        queueRepair(now, bad, listed('queued'), key);
    }
  };

  let reason: StopReason | null = null;
  for (;;) {
    reason = control.stopRequested();
    const round = pacer.round();
    while (!reason && !exhausted && inflight.length < round.inFlight) {
      const page = nextPage(round.batch);
      if (page.length === 0) {
        exhausted = true;
        break;
      }
      const afterOrd = dispatchCursor;
      dispatchCursor = page[page.length - 1]!.ord;
      const position = { suspectsDone: dispatchSuspects, riskCursor: dispatchRisk };
      control.onDispatch?.(page);
      inflight.push({ promise: checkBatch(engine, page, { oneByOne: round.oneByOne, light: pass.light === true, direct: round.direct === true }), afterOrd, lastOrd: dispatchCursor, count: page.length, position, sentAt: performance.now() });
    }
    const head = inflight.shift();
    if (!head) {
      if (reason || exhausted) break;
      // Nothing may go out now (auto measuring the clients without the scrubber, or the load gate): wait and ask again.
      await sleep(pacer.pauseMs());
      continue;
    }
    const checked = await head.promise;
    pacer.checked(performance.now() - head.sentAt, head.count);
    const verified: string[] = [];
    // Findings are judged against the catalogue as it is now (an extent deleted or rewritten meanwhile is not
    // corrupt). Extents whose every fragment checked out, and that had no known problem, need no second look.
    const suspect = checked.filter(needsSecondLook);
    let current: Map<string, ExtentWithFragments | null> = new Map();
    if (suspect.length > 4 && !control.extentIds && pass.order !== 'risk') {
      const now = new Map(engine.catalog.extentsAfter(head.afterOrd, head.count).filter((e) => e.ord <= head.lastOrd).map((e) => [e.id, e]));
      current = new Map(suspect.map((c) => [c.extent.id, now.get(c.extent.id) ?? null]));
    } else for (const c of suspect) current.set(c.extent.id, engine.catalog.extent(c.extent.id));
    for (const c of checked) apply(c, verified, current.has(c.extent.id) ? current.get(c.extent.id)! : c.extent);
    if (!pass.dryRun) {
      for (const id of verified) stamps.push(id);
      writeStamps(false);
    }
    if (!control.extentIds) {
      if (pass.order === 'risk') {
        pass.suspectsDone = head.position.suspectsDone;
        pass.riskCursor = head.position.riskCursor;
      } else pass.cursor = head.lastOrd;
    }
    control.onProgress?.(pass);
    if (performance.now() - lastCheckpoint >= control.checkpointMs) {
      pass.durationSeconds = (pass.activeMs + performance.now() - segmentStarted) / 1000;
      writeStamps(true); // a persisted cursor never runs ahead of the stamps of the extents behind it
      control.checkpoint(pass);
      lastCheckpoint = performance.now();
    }
    if (reason && inflight.length === 0) break;
    const wait = pacer.pauseMs();
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
