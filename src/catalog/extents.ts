// The extents and fragments tables: where every fragment of every extent
// lives, its checksum and state; the scrub order (ord) and verification
// stamps. Rows are written with their object (objects.ts) and moved by
// repairs (problems.ts).
import type Database from 'better-sqlite3';
import { DiskTable } from './disks.js';
import { RECOMPUTE_STATE } from './extent-state.js';
import type { ExtentRow, ExtentState, ExtentWithFragments, FragmentRow, FragmentState, NewExtent } from './rows.js';

const EXTENT_COLUMNS = 'ord, id, object_id AS objectId, seq, size, policy, need, width, fragment_length AS fragmentLength, payload_offset AS payloadOffset, checksum, state, verified_at AS verifiedAt';
const FRAGMENT_COLUMNS = 'extent_id AS extentId, idx AS "index", disk_id AS diskId, checksum, bytes, state';

/**
 * An extent with its fragments packed into one column by SQLite: one row per
 * extent instead of one per fragment (a scrub page of 20 ec:4+2 extents: 0.18 ms
 * against 0.63 ms for two queries of objects). Disk ids, checksums and states
 * hold no spaces.
 */
const PACKED_EXTENT = `SELECT ord, id, object_id, seq, size, policy, need, width, fragment_length, payload_offset, checksum, state, verified_at,
  (SELECT group_concat(f.idx || ' ' || f.disk_id || ' ' || f.checksum || ' ' || f.bytes || ' ' || f.state, ' ') FROM fragments f WHERE f.extent_id = extents.id)
  FROM extents`;

type PackedRow = [number, string, string, number, number, string, number, number, number, number, string, ExtentState, number | null, string | null];

function unpackExtent(r: PackedRow): ExtentWithFragments {
  const fragments: FragmentRow[] = [];
  if (r[13]) {
    const t = r[13].split(' ');
    for (let i = 0; i + 4 < t.length; i += 5) {
      fragments.push({ extentId: r[1], index: Number(t[i]), diskId: t[i + 1]!, checksum: t[i + 2]!, bytes: Number(t[i + 3]), state: t[i + 4] as FragmentState });
    }
    fragments.sort((a, b) => a.index - b.index);
  }
  return {
    ord: r[0], id: r[1], objectId: r[2], seq: r[3], size: r[4], policy: r[5], need: r[6], width: r[7],
    fragmentLength: r[8], payloadOffset: r[9], checksum: r[10], state: r[11], verifiedAt: r[12], fragments,
  };
}

/** A row of the risk order: margin (width - need), last verification (0: never), ord. */
export type RiskKey = [number, number, number];

/** The risk-order row of an extent. */
export function riskKey(extent: Pick<ExtentRow, 'width' | 'need' | 'verifiedAt' | 'ord'>): RiskKey {
  return [extent.width - extent.need, extent.verifiedAt ?? 0, extent.ord];
}

/** Gives each extent its fragments, in index order. */
function withFragments(extents: ExtentRow[], fragments: FragmentRow[]): ExtentWithFragments[] {
  const byExtent = new Map<string, FragmentRow[]>();
  for (const f of fragments) {
    let list = byExtent.get(f.extentId);
    if (!list) byExtent.set(f.extentId, (list = []));
    list.push(f);
  }
  return extents.map((e) => ({ ...e, fragments: (byExtent.get(e.id) ?? []).sort((a, b) => a.index - b.index) }));
}

export class ExtentTable extends DiskTable {
  private readonly extentSql;

  protected constructor(db: Database.Database) {
    super(db);
    const p = (sql: string) => db.prepare(sql);
    this.extentSql = {
      insert: p(`INSERT INTO extents (id, object_id, seq, size, policy, need, width, fragment_length, payload_offset, checksum, state)
        VALUES (@id, @objectId, @seq, @size, @policy, @need, @width, @fragmentLength, @payloadOffset, @checksum, 'healthy')`),
      ofObject: p(`SELECT ${EXTENT_COLUMNS} FROM extents WHERE object_id = ? ORDER BY seq`),
      byId: p(`SELECT ${EXTENT_COLUMNS} FROM extents WHERE id = ?`),
      packedAfter: p(`${PACKED_EXTENT} WHERE ord > ? ORDER BY ord LIMIT ?`).raw(true),
      // The risk order (extents_by_risk), each an index range: the rest of the cursor's (margin, verified) group,
      // the rest of its margin, and the next margin (a row-value range over all three would be a scan).
      riskSameGroup: p(`${PACKED_EXTENT} WHERE risk_margin = ? AND risk_verified = ? AND ord > ? AND ord <= ? ORDER BY ord LIMIT ?`).raw(true),
      riskSameMargin: p(`${PACKED_EXTENT} WHERE risk_margin = ? AND risk_verified > ? AND risk_verified < ? AND ord <= ?
        ORDER BY risk_verified, ord LIMIT ?`).raw(true),
      riskNextMargin: p('SELECT min(risk_margin) AS m FROM extents WHERE risk_margin > ?'),
      riskTotals: p(`SELECT count(*) AS n, coalesce(sum(width * fragment_length), 0) AS bytes FROM extents
        WHERE coalesce(verified_at, 0) < ? AND ord <= ?`),
      suspects: p(`SELECT e.id AS id, e.need AS need, e.verified_at AS verifiedAt,
          (SELECT count(*) FROM fragments f LEFT JOIN disks d ON d.id = f.disk_id
             WHERE f.extent_id = e.id AND f.state = 'ok' AND coalesce(d.state, 'failed') NOT IN ('failed', 'suspect')) AS good
        FROM extents e WHERE e.ord <= ? AND e.id IN (
          SELECT extent_id FROM problems
          UNION SELECT extent_id FROM fragments WHERE state <> 'ok'
          UNION SELECT f.extent_id FROM fragments f JOIN disks d ON d.id = f.disk_id WHERE d.state <> 'healthy')
        LIMIT ?`),
      lightChecked: p('UPDATE extents SET light_checked_at = ? WHERE id = ?'),
      deleteOfObject: p('DELETE FROM extents WHERE object_id = ?'),
      move: p('UPDATE extents SET object_id = ?, seq = ? WHERE id = ? AND object_id = ?'),
      fragmentInsert: p('INSERT INTO fragments (extent_id, idx, disk_id, checksum, bytes, state) VALUES (?, ?, ?, ?, ?, ?)'),
      fragmentsOfExtent: p(`SELECT ${FRAGMENT_COLUMNS} FROM fragments WHERE extent_id = ? ORDER BY idx`),
      fragmentsOfObject: p(`SELECT ${FRAGMENT_COLUMNS} FROM fragments WHERE extent_id IN (SELECT id FROM extents WHERE object_id = ?)`),
      fragmentDeleteOfObject: p('DELETE FROM fragments WHERE extent_id IN (SELECT id FROM extents WHERE object_id = ?)'),
      fragmentExists: p('SELECT 1 FROM fragments WHERE extent_id = ? AND idx = ? AND disk_id = ?'),
      needingRebuild: p(`SELECT DISTINCT f.extent_id AS id FROM fragments f LEFT JOIN disks d ON d.id = f.disk_id
        WHERE f.state <> 'ok' OR d.state IS NULL OR d.state = 'failed'`),
      recomputeOne: p(`${RECOMPUTE_STATE} WHERE id = ?`),
      maxOrd: p('SELECT coalesce(max(ord), 0) AS n FROM extents'),
      verified: p('UPDATE extents SET verified_at = ? WHERE id = ?'),
      verifiedMinutes: p('SELECT minute, n FROM verified_minutes ORDER BY minute'),
      oldestMinuteBefore: p('SELECT min(minute) AS minute FROM verified_minutes WHERE minute < ?'),
      margins: p(`SELECT e.policy AS policy, e.state AS state, e.need AS need, e.size AS size,
        (SELECT count(*) FROM fragments f LEFT JOIN disks d ON d.id = f.disk_id
           WHERE f.extent_id = e.id AND f.state = 'ok' AND coalesce(d.state, 'failed') <> 'failed') AS good
        FROM extents e`),
    };
  }

  extentsOfObject(objectId: string): ExtentWithFragments[] {
    return withFragments(this.extentSql.ofObject.all(objectId) as ExtentRow[], this.extentSql.fragmentsOfObject.all(objectId) as FragmentRow[]);
  }

  extent(id: string): ExtentWithFragments | null {
    const row = this.extentSql.byId.get(id) as ExtentRow | undefined;
    if (!row) return null;
    return { ...row, fragments: this.extentSql.fragmentsOfExtent.all(id) as FragmentRow[] };
  }

  /** Extents in scrub order after `ord`, a page at a time: one query per page, not one per extent. */
  extentsAfter(ord: number, limit: number): ExtentWithFragments[] {
    return (this.extentSql.packedAfter.all(ord, limit) as PackedRow[]).map(unpackExtent);
  }

  /**
   * Extents in risk order (least margin first, then oldest verification)
   * after `after` (a key from riskKey; null: from the start), among those
   * last verified before `verifiedBefore` (ms) and no newer than `endOrd`.
   */
  extentsByRisk(after: RiskKey | null, verifiedBefore: number, endOrd: number, limit: number): ExtentWithFragments[] {
    const sql = this.extentSql;
    const rows: PackedRow[] = [];
    let [margin, verified, ord] = after ?? [(sql.riskNextMargin.get(-1) as { m: number | null }).m, -1, -1];
    while (margin !== null && rows.length < limit) {
      if (verified >= 0 && verified < verifiedBefore) rows.push(...(sql.riskSameGroup.all(margin, verified, ord, endOrd, limit - rows.length) as PackedRow[]));
      if (rows.length < limit) rows.push(...(sql.riskSameMargin.all(margin, verified, verifiedBefore, endOrd, limit - rows.length) as PackedRow[]));
      if (rows.length >= limit) break;
      margin = (sql.riskNextMargin.get(margin) as { m: number | null }).m;
      [verified, ord] = [-1, -1];
    }
    return rows.map(unpackExtent);
  }

  /** How many extents, and fragment bytes, a risk-ordered pass covers (see extentsByRisk). */
  riskTotals(verifiedBefore: number, endOrd: number): { extents: number; bytes: number } {
    const row = this.extentSql.riskTotals.get(verifiedBefore, endOrd) as { n: number; bytes: number };
    return { extents: row.n, bytes: row.bytes };
  }

  /**
   * Suspect extents: a problem recorded (by a read or a pass), a fragment not
   * ok, or a fragment on a disk that is not healthy. Least margin (good
   * fragments beyond the minimum) first, then oldest verification; at most `limit`.
   */
  suspectExtents(endOrd: number, limit: number): { id: string; margin: number }[] {
    const rows = this.extentSql.suspects.all(endOrd, limit) as { id: string; need: number; verifiedAt: number | null; good: number }[];
    return rows
      .map((r) => ({ id: r.id, margin: r.good - r.need, verifiedAt: r.verifiedAt ?? 0 }))
      .sort((a, b) => a.margin - b.margin || a.verifiedAt - b.verifiedAt)
      .map(({ id, margin }) => ({ id, margin }));
  }

  /** Stamps extents as light-checked at `at` (ms): presence, size and header, no payload (see markVerified). */
  markLightChecked(extentIds: readonly string[], at: number): void {
    if (extentIds.length === 0) return;
    this.relaxed(() => this.transaction(() => {
      for (const id of extentIds) this.extentSql.lightChecked.run(at, id);
    }));
  }

  *iterateExtents(pageSize = 500): Generator<ExtentWithFragments> {
    let ord = 0;
    for (;;) {
      const page = this.extentsAfter(ord, pageSize);
      if (page.length === 0) return;
      yield* page;
      ord = page[page.length - 1]!.ord;
    }
  }

  extentIdsNeedingRebuild(): string[] {
    return (this.extentSql.needingRebuild.all() as { id: string }[]).map((r) => r.id);
  }

  hasFragment(extentId: string, index: number, diskId: string): boolean {
    return this.extentSql.fragmentExists.get(extentId, index, diskId) !== undefined;
  }

  recomputeExtent(extentId: string): void {
    this.extentSql.recomputeOne.run(extentId);
  }

  /** The catalogue order of the newest extent (0 when empty): where a pass started now ends. */
  maxOrd(): number {
    return (this.extentSql.maxOrd.get() as { n: number }).n;
  }

  /**
   * Stamps extents as verified at `at` (ms), in one transaction. These stamps
   * acknowledge nothing: committed without waiting for the disk, so a
   * background scrub does not fsync on the daemon's thread after every batch;
   * a power cut loses at most the last stamps, and those extents are checked again.
   */
  markVerified(extentIds: readonly string[], at: number): void {
    if (extentIds.length === 0) return;
    this.relaxed(() => this.transaction(() => {
      for (const id of extentIds) this.extentSql.verified.run(at, id);
    }));
  }

  /** The oldest last verification (ms, to the minute) among stamps before `before` (ms), or null: a few rows read. */
  oldestVerifiedBefore(before: number): number | null {
    const row = this.extentSql.oldestMinuteBefore.get(Math.floor(before / 60_000)) as { minute: number | null };
    return row.minute === null ? null : row.minute * 60_000;
  }

  /** Extents by minute of their last verification (trigger-maintained; a handful of rows). */
  verifiedMinutes(): { minute: number; n: number }[] {
    return this.extentSql.verifiedMinutes.all() as { minute: number; n: number }[];
  }

  /** Every extent's policy, state, need, size and count of good fragments (ok, on a disk not failed), streamed. */
  extentMargins(): IterableIterator<{ policy: string; state: string; need: number; good: number; size: number }> {
    return this.extentSql.margins.iterate() as IterableIterator<{ policy: string; state: string; need: number; good: number; size: number }>;
  }

  /** Writes an object's new extents and their fragments (inside the object's transaction). */
  protected insertExtents(objectId: string, extents: readonly NewExtent[]): void {
    for (const extent of extents) {
      const { fragments, ...row } = extent;
      this.extentSql.insert.run({ ...row, objectId });
      for (const f of fragments) this.extentSql.fragmentInsert.run(extent.id, f.index, f.diskId, f.checksum, f.bytes, 'ok');
    }
  }

  /** Moves an extent to another object, at `seq` (inside the object's transaction); false when it is no longer `from`'s. */
  protected moveExtent(extentId: string, from: string, to: string, seq: number): boolean {
    return this.extentSql.move.run(to, seq, extentId, from).changes === 1;
  }

  /** Deletes an object's extents and fragments (inside the object's transaction). */
  protected deleteExtentsOf(objectId: string): void {
    this.extentSql.fragmentDeleteOfObject.run(objectId);
    this.extentSql.deleteOfObject.run(objectId);
  }
}
