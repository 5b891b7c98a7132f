// The packs and packed tables: packs of small objects (each an extent whose
// object id is the pack's own) and where each packed object's bytes lie in
// its pack. A pack is immutable: deletes and overwrites only remove `packed`
// rows, leaving dead bytes, until compaction moves the live objects to a new
// pack and the old one goes. A pack with no live object left goes at once.
import type Database from 'better-sqlite3';
import { ProblemTable } from './problems.js';
import type { ExtentWithFragments, NewExtent } from './rows.js';

export interface PackedRow {
  objectId: string;
  extentId: string;
  offset: number;
  length: number;
  checksum: string;
}

export interface PackRow {
  extentId: string;
  bytes: number;
  liveBytes: number;
  liveObjects: number;
  createdAt: number;
}

/** A new pack: its id (the extent's object id) and extent, as written. */
export interface NewPack {
  packId: string;
  extent: NewExtent;
  createdAt: number;
}

const PACKED_COLUMNS = 'object_id AS objectId, extent_id AS extentId, offset, length, checksum';
const PACK_COLUMNS = 'extent_id AS extentId, bytes, live_bytes AS liveBytes, live_objects AS liveObjects, created_at AS createdAt';

export class PackTable extends ProblemTable {
  private readonly packSql;

  protected constructor(db: Database.Database) {
    super(db);
    const p = (sql: string) => db.prepare(sql);
    this.packSql = {
      packedOf: p(`SELECT ${PACKED_COLUMNS} FROM packed WHERE object_id = ?`),
      packedIn: p(`SELECT ${PACKED_COLUMNS} FROM packed WHERE extent_id = ? ORDER BY offset`),
      packedInsert: p('INSERT INTO packed (object_id, extent_id, offset, length, checksum) VALUES (?, ?, ?, ?, ?)'),
      packedDelete: p('DELETE FROM packed WHERE object_id = ?'),
      packedMove: p('UPDATE packed SET extent_id = ?, offset = ? WHERE object_id = ? AND extent_id = ?'),
      pack: p(`SELECT ${PACK_COLUMNS} FROM packs WHERE extent_id = ?`),
      packInsert: p('INSERT INTO packs (extent_id, bytes, created_at) VALUES (?, ?, ?)'),
      packDelete: p('DELETE FROM packs WHERE extent_id = ?'),
      toCompact: p(`SELECT ${PACK_COLUMNS} FROM packs WHERE (live_bytes < bytes * ? OR bytes < ?) AND created_at <= ?
        ORDER BY live_bytes * 1.0 / bytes, extent_id LIMIT ?`),
      totals: p('SELECT count(*) AS packs, coalesce(sum(bytes), 0) AS bytes, coalesce(sum(live_bytes), 0) AS liveBytes, coalesce(sum(live_objects), 0) AS liveObjects FROM packs'),
    };
  }

  /** Where a packed object's bytes lie; null for an object that is not packed. */
  packedOf(objectId: string): PackedRow | null {
    return (this.packSql.packedOf.get(objectId) as PackedRow | undefined) ?? null;
  }

  /** The live objects of a pack, in pack order. */
  packedIn(extentId: string): PackedRow[] {
    return this.packSql.packedIn.all(extentId) as PackedRow[];
  }

  pack(extentId: string): PackRow | null {
    return (this.packSql.pack.get(extentId) as PackRow | undefined) ?? null;
  }

  /** Packs whose live bytes are below `share` of their bytes, or that are smaller than `small` bytes, emptiest first (written no later than `before`). */
  packsToCompact(share: number, small: number, limit: number, before = Date.now()): PackRow[] {
    return this.packSql.toCompact.all(share, small, before, limit) as PackRow[];
  }

  /** When the oldest pack still in the pool was written (ms), or null with none. */
  oldestPackAt(): number | null {
    return (this.db.prepare('SELECT min(created_at) AS at FROM packs').get() as { at: number | null }).at;
  }

  /** Packs, their bytes and their live bytes and objects, over the pool. */
  packTotals(): { packs: number; bytes: number; liveBytes: number; liveObjects: number } {
    return this.packSql.totals.get() as { packs: number; bytes: number; liveBytes: number; liveObjects: number };
  }

  /**
   * Moves live objects from old packs to a new one, in one transaction: a
   * move applies only if the object is still where it was read (one deleted
   * or overwritten meanwhile stays as it is, its copy dead in the new pack).
   * Old packs left without a live object go; their extents are returned for
   * their files to be deleted.
   */
  movePacked(pack: NewPack, moves: readonly { objectId: string; from: string; offset: number }[]): { moved: number; dropped: ExtentWithFragments[] } {
    return this.transaction(() => {
      this.insertPack(pack);
      let moved = 0;
      for (const m of moves) moved += this.packSql.packedMove.run(pack.extent.id, m.offset, m.objectId, m.from).changes;
      // A move whose object went meanwhile (deleted, overwritten, or moved by another compaction) leaves
      // nothing in the new pack for it; a new pack that got nothing goes with the old ones.
      const dropped = [...new Set([...moves.map((m) => m.from), pack.extent.id])].flatMap((id) => this.dropPackIfEmpty(id));
      return { moved, dropped };
    });
  }

  /** Deletes a pack that holds no live object; returns its extent (for its files), or nothing if it still holds some. */
  dropEmptyPack(extentId: string): ExtentWithFragments[] {
    return this.transaction(() => this.dropPackIfEmpty(extentId));
  }

  /** Writes a new pack's extent and its row (inside a transaction). */
  protected insertPack(pack: NewPack): void {
    this.insertExtents(pack.packId, [pack.extent]);
    this.packSql.packInsert.run(pack.extent.id, pack.extent.size, pack.createdAt);
  }

  protected insertPacked(row: PackedRow): void {
    this.packSql.packedInsert.run(row.objectId, row.extentId, row.offset, row.length, row.checksum);
  }

  /** Removes an object's packed row (if any); a pack left without live objects goes, and is returned. */
  protected dropPacked(objectId: string, keep?: string): ExtentWithFragments[] {
    const row = this.packedOf(objectId);
    if (!row) return [];
    this.packSql.packedDelete.run(objectId);
    return row.extentId === keep ? [] : this.dropPackIfEmpty(row.extentId);
  }

  private dropPackIfEmpty(extentId: string): ExtentWithFragments[] {
    const pack = this.pack(extentId);
    if (!pack || pack.liveObjects > 0) return [];
    const extent = this.extent(extentId);
    if (!extent) return [];
    this.deleteProblemsOf(extent.objectId);
    this.deleteExtentsOf(extent.objectId);
    this.packSql.packDelete.run(extentId);
    return [extent];
  }
}
