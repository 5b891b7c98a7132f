// What a checked extent is, and what the pass should do about it: a pure
// function of the check's outcomes, the catalogue rows it was checked against
// (the snapshot), the catalogue as it is now, and the pass's options. The
// pass applies the verdict (counts, problem records, repairs, stamps).
import type { ExtentWithFragments, FragmentProblem, FragmentRow } from '../catalog/index.js';
import { hex64 } from '../store/index.js';
import type { Checked } from './page.js';

/** What the pass does with an extent it cannot (or may not) repair now. */
export type ReportAction = 'reported' | 'would_repair' | 'repair_paused';

export type Verdict =
  /** Deleted or rewritten while it was checked: nothing to judge. */
  | { kind: 'skipped' }
  /** The check itself failed (a worker error, not a bad fragment): nothing judged. */
  | { kind: 'check_failed'; error: string }
  | { kind: 'healthy'; cleared: number[] }
  /** Fewer good fragments than the code needs. */
  | { kind: 'unrecoverable'; bad: FragmentProblem[]; cleared: number[] }
  /** Bad fragments, reported only: a dry run, repair off, or the pass's repair cap reached. */
  | { kind: 'degraded'; bad: FragmentProblem[]; cleared: number[]; action: ReportAction }
  /** Bad fragments to queue for repair. */
  | { kind: 'repair'; bad: FragmentProblem[]; cleared: number[] };

export interface ClassifyOptions {
  dryRun: boolean;
  repair: boolean;
  /** Fragment repairs this pass may still queue before its cap. */
  repairRoom: number;
  /** A light check (no payload read): a fragment that passes it is not cleared of a known problem. */
  light?: boolean;
}

function sameFragment(a: FragmentRow | null | undefined, b: FragmentRow | null | undefined): boolean {
  if (!a || !b) return !a && !b;
  return a.diskId === b.diskId && a.checksum === b.checksum;
}

/**
 * Judges one checked extent against `now`, its catalogue rows after the
 * check. A finding about a fragment that moved or changed since it was read
 * is dropped; a fragment that checked out but was known bad is `cleared`.
 */
export function classify(checked: Checked, now: ExtentWithFragments | null, options: ClassifyOptions): Verdict {
  if (!now) return { kind: 'skipped' };
  if (checked.outcomes === null) return { kind: 'check_failed', error: checked.error ?? 'the check failed' };
  const bad: FragmentProblem[] = [];
  const cleared: number[] = [];
  checked.outcomes.forEach((o, index) => {
    const current = now.fragments.find((f) => f.index === index) ?? null;
    if (!sameFragment(current, checked.snapshot[index])) return; // moved or rewritten while we read it
    if (o.status === 'ok') {
      if (current && current.state !== 'ok' && !options.light) cleared.push(index);
      return;
    }
    bad.push({ index, diskId: current?.diskId ?? null, kind: o.status, observed: o.hash === undefined ? null : hex64(o.hash) });
  });
  if (bad.length === 0) return { kind: 'healthy', cleared };
  if (now.width - bad.length < now.need) return { kind: 'unrecoverable', bad, cleared };
  if (options.dryRun) return { kind: 'degraded', bad, cleared, action: options.repair ? 'would_repair' : 'reported' };
  if (!options.repair) return { kind: 'degraded', bad, cleared, action: 'reported' };
  if (bad.length > options.repairRoom) return { kind: 'degraded', bad, cleared, action: 'repair_paused' };
  return { kind: 'repair', bad, cleared };
}

/** Whether the batch's verdicts need the catalogue's current rows: any failure, finding, or known problem. */
export function needsSecondLook(checked: Checked): boolean {
  return checked.outcomes === null || checked.outcomes.some((o) => o.status !== 'ok') || checked.snapshot.some((f) => f !== null && f.state !== 'ok');
}
