// The problems table: each bad fragment a read, scrub or repair found, with
// what was done about it; and the fragment states and extent states that
// follow a finding or a repair, changed in the same transaction.
import type Database from 'better-sqlite3';
import { RECOMPUTE_STATE } from './extent-state.js';
import { ExtentTable } from './extents.js';
import type { FragmentProblem } from './rows.js';

export interface ProblemRow {
  extentId: string;
  index: number;
  diskId: string | null;
  kind: string;
  source: string;
  action: string;
  detectedAt: number;
}

export class ProblemTable extends ExtentTable {
  private readonly problemSql;

  protected constructor(db: Database.Database) {
    super(db);
    const p = (sql: string) => db.prepare(sql);
    this.problemSql = {
      upsert: p(`INSERT INTO problems (extent_id, idx, disk_id, kind, source, action, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (extent_id, idx) DO UPDATE SET disk_id = excluded.disk_id, kind = excluded.kind, source = excluded.source, action = excluded.action, detected_at = excluded.detected_at`),
      resolve: p('DELETE FROM problems WHERE extent_id = ? AND idx = ?'),
      deleteOfObject: p('DELETE FROM problems WHERE extent_id IN (SELECT id FROM extents WHERE object_id = ?)'),
      all: p('SELECT extent_id AS extentId, idx AS "index", disk_id AS diskId, kind, source, action, detected_at AS detectedAt FROM problems ORDER BY detected_at'),
      action: p('UPDATE problems SET action = ? WHERE extent_id = ? AND idx = ?'),
      detailed: p(`SELECT p.extent_id AS extentId, p.idx AS "index", p.disk_id AS diskId, p.kind, p.source, p.action, p.detected_at AS detectedAt,
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

  /** Records bad fragments found by a read or scrub, and recomputes the extent's state. */
  recordProblems(extentId: string, problems: readonly FragmentProblem[], source: string, action = 'reported'): void {
    if (problems.length === 0) return;
    this.transaction(() => {
      const now = Date.now();
      for (const p of problems) {
        this.problemSql.fragmentState.run(p.kind, extentId, p.index);
        this.problemSql.upsert.run(extentId, p.index, p.diskId, p.kind, source, action, now);
      }
      this.problemSql.recomputeOne.run(extentId);
    });
  }

  /** Points fragments at fresh, verified copies (after repair, rebuild or drain) in one transaction; their problems are resolved. */
  replaceFragments(extentId: string, fragments: readonly { index: number; diskId: string; checksum: string; bytes: number }[]): void {
    this.transaction(() => {
      for (const f of fragments) {
        this.problemSql.fragmentMove.run(extentId, f.index, f.diskId, f.checksum, f.bytes);
        this.problemSql.resolve.run(extentId, f.index);
      }
      this.problemSql.recomputeOne.run(extentId);
    });
  }

  /** Fragments found good again (a transient read error): back to ok, their problems resolved. */
  clearProblems(extentId: string, indices: readonly number[]): void {
    this.transaction(() => {
      for (const index of indices) {
        this.problemSql.fragmentState.run('ok', extentId, index);
        this.problemSql.resolve.run(extentId, index);
      }
      this.problemSql.recomputeOne.run(extentId);
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
