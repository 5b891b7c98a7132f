// The problems table: each bad fragment a read, scrub or repair found, with
// what was done about it; and the fragment states and extent states that
// follow a finding or a repair, changed in the same transaction.
import type Database from 'better-sqlite3';
import { RECOMPUTE_STATE } from './extent-state.js';
import { ExtentTable } from './extents.js';
import type { EventOrigin, NewEvent } from './events.js';
import type { FragmentProblem } from './rows.js';

export interface ProblemRow {
  extentId: string;
  index: number;
  diskId: string | null;
  kind: string;
  source: string;
  action: string;
  detectedAt: number;
  observedChecksum: string | null;
}

/** Where a problem came from (the problems table's source) → what the journal calls it. */
const SOURCE_TRIGGERS: Record<string, EventOrigin['trigger']> = { read: 'read', scrub: 'scrub', rebuild: 'rebuild' };

export class ProblemTable extends ExtentTable {
  private readonly problemSql;

  protected constructor(db: Database.Database) {
    super(db);
    const p = (sql: string) => db.prepare(sql);
    this.problemSql = {
      upsert: p(`INSERT INTO problems (extent_id, idx, disk_id, kind, source, action, detected_at, observed_checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (extent_id, idx) DO UPDATE SET disk_id = excluded.disk_id, kind = excluded.kind, source = excluded.source, action = excluded.action,
        detected_at = excluded.detected_at, observed_checksum = excluded.observed_checksum`),
      one: p('SELECT disk_id AS diskId, kind, observed_checksum AS observed FROM problems WHERE extent_id = ? AND idx = ?'),
      ofExtent: p(`SELECT extent_id AS extentId, idx AS "index", disk_id AS diskId, kind, source, action, detected_at AS detectedAt, observed_checksum AS observedChecksum
        FROM problems WHERE extent_id = ? ORDER BY idx`),
      context: p('SELECT e.seq AS seq, o.key AS key FROM extents e LEFT JOIN objects o ON o.id = e.object_id WHERE e.id = ?'),
      fragmentChecksum: p('SELECT checksum FROM fragments WHERE extent_id = ? AND idx = ?'),
      resolve: p('DELETE FROM problems WHERE extent_id = ? AND idx = ?'),
      deleteOfObject: p('DELETE FROM problems WHERE extent_id IN (SELECT id FROM extents WHERE object_id = ?)'),
      all: p('SELECT extent_id AS extentId, idx AS "index", disk_id AS diskId, kind, source, action, detected_at AS detectedAt, observed_checksum AS observedChecksum FROM problems ORDER BY detected_at'),
      action: p('UPDATE problems SET action = ? WHERE extent_id = ? AND idx = ?'),
      detailed: p(`SELECT p.extent_id AS extentId, p.idx AS "index", p.disk_id AS diskId, p.kind, p.source, p.action, p.detected_at AS detectedAt, p.observed_checksum AS observedChecksum,
        e.seq, o.key FROM problems p LEFT JOIN extents e ON e.id = p.extent_id LEFT JOIN objects o ON o.id = e.object_id
        ORDER BY p.detected_at, p.extent_id, p.idx LIMIT ?`),
      extentsWithAction: p('SELECT DISTINCT extent_id AS id FROM problems WHERE source = ? AND action = ?'),
      count: p('SELECT count(*) AS n FROM problems'),
      extentsWithAny: p(`SELECT id FROM extents WHERE state <> 'healthy'
        UNION SELECT extent_id FROM fragments WHERE state <> 'ok' UNION SELECT extent_id FROM problems`),
      fragmentState: p('UPDATE fragments SET state = ? WHERE extent_id = ? AND idx = ?'),
      fragmentMove: p(`INSERT INTO fragments (extent_id, idx, disk_id, checksum, bytes, state) VALUES (?, ?, ?, ?, ?, 'ok')
        ON CONFLICT (extent_id, idx) DO UPDATE SET disk_id = excluded.disk_id, checksum = excluded.checksum, bytes = excluded.bytes, state = 'ok'`),
      recomputeOne: p(`${RECOMPUTE_STATE} WHERE id = ?`),
    };
  }

  /**
   * Records bad fragments found by a read, scrub or repair, and recomputes
   * the extent's state. A problem not known before (or known with another
   * kind, disk or bytes) is a `problem` event in the same transaction; one
   * found again as it was is not news.
   */
  recordProblems(extentId: string, problems: readonly FragmentProblem[], source: string, action = 'reported', origin?: EventOrigin): NewEvent[] {
    if (problems.length === 0) return [];
    const from = { trigger: origin?.trigger ?? SOURCE_TRIGGERS[source] ?? 'manual', job: origin?.job ?? null };
    return this.transaction(() => {
      const now = Date.now();
      const event = this.fragmentEvents(extentId, from);
      const events: NewEvent[] = [];
      for (const p of problems) {
        const known = this.knownProblem(extentId, p.index);
        const observed = p.observed ?? null;
        if (!known || known.kind !== p.kind || known.diskId !== p.diskId || known.observed !== observed) {
          events.push(event('problem', p.index, { disk: p.diskId, kind: p.kind, observedChecksum: observed, result: action }));
        }
        this.problemSql.fragmentState.run(p.kind, extentId, p.index);
        this.problemSql.upsert.run(extentId, p.index, p.diskId, p.kind, source, action, now, observed);
      }
      this.problemSql.recomputeOne.run(extentId);
      this.appendEvents(events, now);
      return events;
    });
  }

  private knownProblem(extentId: string, index: number): { diskId: string | null; kind: string; observed: string | null } | undefined {
    return this.problemSql.one.get(extentId, index) as { diskId: string | null; kind: string; observed: string | null } | undefined;
  }

  /**
   * Builds the events about one extent's fragments: its key and sequence
   * (read once, on the first event) and each fragment's recorded checksum as
   * the expected one.
   */
  private fragmentEvents(extentId: string, origin: EventOrigin) {
    let context: { seq: number; key: string | null } | undefined;
    return (type: NewEvent['type'], fragment: number, fields: Partial<NewEvent>): NewEvent => {
      context ??= this.problemSql.context.get(extentId) as { seq: number; key: string | null } | undefined;
      const expected = this.problemSql.fragmentChecksum.get(extentId, fragment) as { checksum: string } | undefined;
      return {
        type, trigger: origin.trigger, job: origin.job ?? null, key: context?.key ?? null, extent: extentId, seq: context?.seq ?? null, fragment,
        expectedChecksum: expected?.checksum ?? null, ...fields,
      };
    };
  }

  /** The problems known on one extent's fragments, by index. */
  problemsOfExtent(extentId: string): ProblemRow[] {
    return this.problemSql.ofExtent.all(extentId) as ProblemRow[];
  }

  /**
   * Points fragments at fresh, verified copies (after repair, rebuild or
   * drain) in one transaction, with the events that record it; their
   * problems are resolved.
   */
  replaceFragments(extentId: string, fragments: readonly { index: number; diskId: string; checksum: string; bytes: number }[], events: readonly NewEvent[] = []): void {
    this.transaction(() => {
      for (const f of fragments) {
        this.problemSql.fragmentMove.run(extentId, f.index, f.diskId, f.checksum, f.bytes);
        this.problemSql.resolve.run(extentId, f.index);
      }
      this.problemSql.recomputeOne.run(extentId);
      this.appendEvents(events);
    });
  }

  /**
   * Fragments found good again (a transient read error, or a repair's copy
   * that landed but was never committed): back to ok, their problems
   * resolved, each a `problem_cleared` event.
   */
  clearProblems(extentId: string, indices: readonly number[], origin: EventOrigin = { trigger: 'scrub' }): void {
    this.transaction(() => {
      const event = this.fragmentEvents(extentId, origin);
      const events = indices.map((index) => {
        const known = this.knownProblem(extentId, index);
        // Found good: the bytes there are the ones recorded.
        const cleared = event('problem_cleared', index, { disk: known?.diskId ?? null, kind: known?.kind ?? null, result: 'ok' });
        cleared.observedChecksum = cleared.expectedChecksum ?? null;
        this.problemSql.fragmentState.run('ok', extentId, index);
        this.problemSql.resolve.run(extentId, index);
        return cleared;
      });
      this.problemSql.recomputeOne.run(extentId);
      this.appendEvents(events);
    });
  }

  setProblemAction(extentId: string, index: number, action: string): void {
    this.problemSql.action.run(action, extentId, index);
  }

  /** Known problems with the object key and extent sequence they belong to, oldest first. */
  problemsDetailed(limit = 1000): (ProblemRow & { seq: number | null; key: string | null })[] {
    return this.problemSql.detailed.all(limit) as never;
  }

  /** Extents with a problem recorded by `source` with `action` (e.g. repairs a killed scrub left queued). */
  extentIdsWithProblemAction(source: string, action: string): string[] {
    return (this.problemSql.extentsWithAction.all(source, action) as { id: string }[]).map((r) => r.id);
  }

  problemsCount(): number {
    return (this.problemSql.count.get() as { n: number }).n;
  }

  /** Extents with anything known wrong: not healthy, a fragment not ok, or a recorded problem. */
  extentIdsWithProblems(): string[] {
    return (this.problemSql.extentsWithAny.all() as { id: string }[]).map((r) => r.id);
  }

  problems(): ProblemRow[] {
    return this.problemSql.all.all() as never;
  }

  /** Deletes the problems of an object's extents (inside the object's transaction). */
  protected deleteProblemsOf(objectId: string): void {
    this.problemSql.deleteOfObject.run(objectId);
  }
}
