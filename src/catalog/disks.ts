// The disks table: every disk with its state and (trigger-kept) counters,
// and a cache of ids, paths and states, read on every extent access.
import type Database from 'better-sqlite3';
import { DfsError } from '../errors.js';
import { EventTable, type EventOrigin } from './events.js';
import { RECOMPUTE_STATE } from './extent-state.js';
import type { DiskRef, DiskRow, DiskState } from './rows.js';

const DISK_COLUMNS = 'id, path, state, added_at AS addedAt, fragments, stored_bytes AS storedBytes';

export class DiskTable extends EventTable {
  private readonly diskSql;
  private diskList: DiskRef[] | null = null;
  private diskRefs = new Map<string, DiskRef>();

  protected constructor(db: Database.Database) {
    super(db);
    const p = (sql: string) => db.prepare(sql);
    this.diskSql = {
      all: p(`SELECT ${DISK_COLUMNS} FROM disks ORDER BY added_at, id`),
      byId: p(`SELECT ${DISK_COLUMNS} FROM disks WHERE id = ?`),
      byPath: p(`SELECT ${DISK_COLUMNS} FROM disks WHERE path = ?`),
      insert: p('INSERT INTO disks (id, path, state, added_at) VALUES (?, ?, ?, ?)'),
      state: p('UPDATE disks SET state = ? WHERE id = ?'),
      delete: p('DELETE FROM disks WHERE id = ?'),
      recomputeExtentsOn: p(`${RECOMPUTE_STATE} WHERE id IN (SELECT extent_id FROM fragments WHERE disk_id = ?)`),
      fragmentsOn: p('SELECT count(*) AS n FROM fragments WHERE disk_id = ?'),
      extentsOn: p('SELECT DISTINCT extent_id AS id FROM fragments WHERE disk_id = ?'),
      widestOn: p(`SELECT e.policy AS policy, e.width AS width FROM fragments f JOIN extents e ON e.id = f.extent_id
        WHERE f.disk_id = ? ORDER BY e.width DESC LIMIT 1`),
      storedBytes: p('SELECT coalesce(sum(stored_bytes), 0) AS n FROM disks'),
    };
  }

  disks(): DiskRow[] {
    return this.diskSql.all.all() as DiskRow[];
  }

  /**
   * Ids, paths and states of every disk, cached: read on every extent access
   * (placement, fragment paths), and changed only through this object.
   */
  diskStates(): readonly DiskRef[] {
    if (!this.diskList) {
      this.diskList = this.disks().map(({ id, path, state }) => ({ id, path, state }));
      this.diskRefs = new Map(this.diskList.map((d) => [d.id, d]));
    }
    return this.diskList;
  }

  /** One disk's id, path and state from the same cache; null for a disk not in the pool. */
  diskRef(id: string): DiskRef | null {
    this.diskStates();
    return this.diskRefs.get(id) ?? null;
  }

  /** A disk by id, with its counters as they are now. */
  disk(id: string): DiskRow | null {
    return (this.diskSql.byId.get(id) as DiskRow | undefined) ?? null;
  }

  diskByPath(path: string): DiskRow | null {
    return (this.diskSql.byPath.get(path) as DiskRow | undefined) ?? null;
  }

  addDisk(id: string, path: string, state: DiskState = 'healthy'): void {
    this.diskSql.insert.run(id, path, state, Date.now());
    this.diskList = null;
  }

  /**
   * Sets a disk's state and recomputes the state of every extent with a
   * fragment on it; a change is a `disk_state` event, in the same transaction.
   */
  setDiskState(id: string, state: DiskState, origin: EventOrigin & { reason?: string } = { trigger: 'manual' }): void {
    this.diskList = null;
    this.transaction(() => {
      const previous = this.disk(id)?.state ?? null;
      this.diskSql.state.run(state, id);
      this.diskSql.recomputeExtentsOn.run(id);
      if (previous !== state) {
        this.appendEvents([{ type: 'disk_state', trigger: origin.trigger, job: origin.job ?? null, disk: id, previousState: previous, state, reason: origin.reason ?? null, result: state }]);
      }
    });
  }

  /** Forgets a disk that holds no fragment (DFS_ERR_DISK_DRAIN_INCOMPLETE otherwise). */
  removeDisk(id: string): void {
    const left = (this.diskSql.fragmentsOn.get(id) as { n: number }).n;
    if (left > 0) throw new DfsError('DFS_ERR_DISK_DRAIN_INCOMPLETE', `${left} fragments still on ${id}`);
    this.diskSql.delete.run(id);
    this.diskList = null;
  }

  /** The widest policy among the extents with a fragment on the disk (null when it holds none). */
  widestPolicyOnDisk(diskId: string): { policy: string; width: number } | null {
    return (this.diskSql.widestOn.get(diskId) as { policy: string; width: number } | undefined) ?? null;
  }

  extentIdsOnDisk(diskId: string): string[] {
    return (this.diskSql.extentsOn.all(diskId) as { id: string }[]).map((r) => r.id);
  }

  /** Bytes of every fragment in the pool (per-disk counters, no scan). */
  storedBytes(): number {
    return (this.diskSql.storedBytes.get() as { n: number }).n;
  }
}
