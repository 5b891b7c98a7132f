// The objects table: keys, sizes, policies and checksums. An object becomes
// visible, is replaced, or goes away together with its extents, fragments
// and problems, in one transaction.
import type Database from 'better-sqlite3';
import { DfsError } from '../errors.js';
import { PackTable, type NewPack } from './packs.js';
import type { ExtentWithFragments, NewExtent, ObjectRow } from './rows.js';

const OBJECT_COLUMNS = 'id, key, size, policy, checksum, extents, created_at AS createdAt';

/** Upper bound for a key prefix: no valid UTF-8 continues with 0xF4 0x90. */
function prefixBound(prefix: string): Buffer {
  return Buffer.concat([Buffer.from(prefix, 'utf8'), Buffer.from([0xf4, 0x90])]);
}

/** One object of a group commit: its row, where its data lies in the pack, and its data's checksum. */
export interface PackedEntry {
  object: ObjectRow;
  offset: number;
  checksum: string;
  expectReplace?: string | null;
  /** Attributes kept beside the object (object_meta). */
  meta?: string;
}

export class ObjectTable extends PackTable {
  private readonly objectSql;

  protected constructor(db: Database.Database) {
    super(db);
    const p = (sql: string) => db.prepare(sql);
    this.objectSql = {
      byKey: p(`SELECT ${OBJECT_COLUMNS} FROM objects WHERE key = ?`),
      byId: p(`SELECT ${OBJECT_COLUMNS} FROM objects WHERE id = ?`),
      insert: p('INSERT INTO objects (id, key, size, policy, checksum, extents, created_at) VALUES (@id, @key, @size, @policy, @checksum, @extents, @createdAt)'),
      delete: p('DELETE FROM objects WHERE id = ?'),
      // Keys of the pool's own start with NUL (below char(1)): listings skip them.
      after: p(`SELECT ${OBJECT_COLUMNS} FROM objects WHERE key > ? AND key >= char(1) ORDER BY key LIMIT ?`),
      byPolicy: p('SELECT policy, count(*) AS n, sum(size) AS bytes FROM objects GROUP BY policy'),
      prefixAfter: p(`SELECT ${OBJECT_COLUMNS} FROM objects WHERE key >= ? AND key < CAST(? AS TEXT) AND key > ? AND key >= char(1) ORDER BY key LIMIT ?`),
      withMeta: p(`SELECT ${OBJECT_COLUMNS.replace(/(^|, )(?=[a-z])/g, '$1o.')}, m.meta AS meta FROM objects o LEFT JOIN object_meta m ON m.object_id = o.id
        WHERE o.key >= ? AND o.key < CAST(? AS TEXT) AND o.key > ? ORDER BY o.key LIMIT ?`),
      meta: p('SELECT meta FROM object_meta WHERE object_id = ?'),
      insertMeta: p('INSERT OR REPLACE INTO object_meta (object_id, meta) VALUES (?, ?)'),
    };
  }

  object(key: string): ObjectRow | null {
    return (this.objectSql.byKey.get(key) as ObjectRow | undefined) ?? null;
  }

  objectById(id: string): ObjectRow | null {
    return (this.objectSql.byId.get(id) as ObjectRow | undefined) ?? null;
  }

  /** Objects and their bytes, by policy. */
  objectsByPolicy(): { policy: string; n: number; bytes: number }[] {
    return this.objectSql.byPolicy.all() as { policy: string; n: number; bytes: number }[];
  }

  /** Objects in key order after `after`, optionally under a prefix. */
  listObjects(options: { prefix?: string; after?: string; limit?: number } = {}): ObjectRow[] {
    const limit = options.limit ?? -1;
    const after = options.after ?? '';
    if (options.prefix) return this.objectSql.prefixAfter.all(options.prefix, prefixBound(options.prefix), after, limit) as ObjectRow[];
    return this.objectSql.after.all(after, limit) as ObjectRow[];
  }

  /** The attributes kept beside an object (S3's), or null. */
  objectMeta(objectId: string): string | null {
    return (this.objectSql.meta.get(objectId) as { meta: string } | undefined)?.meta ?? null;
  }

  /** Objects under a prefix (internal ones too, if the prefix is theirs) after `after`, with their attributes. */
  listWithMeta(prefix: string, after: string, limit: number): (ObjectRow & { meta: string | null })[] {
    return this.objectSql.withMeta.all(prefix, prefixBound(prefix), after, limit) as (ObjectRow & { meta: string | null })[];
  }

  /**
   * Makes an object visible in one transaction. An existing object of the same
   * key is replaced (only if it is still `expectReplace`, when given); its
   * extents and fragments are returned so that the caller can delete the files.
   * `also` runs last in the same transaction (its throw undoes it all).
   */
  commitObject(object: ObjectRow, extents: readonly NewExtent[], options: { expectReplace?: string | null; meta?: string; also?: () => void } = {}): ExtentWithFragments[] {
    return this.transaction(() => {
      const old = this.object(object.key);
      if (options.expectReplace !== undefined && (old?.id ?? null) !== options.expectReplace) {
        throw new DfsError('DFS_ERR_OBJECT_CHANGED', `"${object.key}" was replaced or deleted meanwhile`);
      }
      const removed = old ? this.dropObjectRows(old.id) : [];
      this.objectSql.insert.run(object);
      if (options.meta !== undefined) this.objectSql.insertMeta.run(object.id, options.meta);
      this.insertExtents(object.id, extents);
      options.also?.();
      return removed;
    });
  }

  /**
   * Makes `object` of extents that other objects hold now (a multipart
   * upload's parts), in one transaction: the extents move to it in the order
   * given, each `from` its part, and the parts (`parts`, their ids), left
   * empty, are dropped. An object of the key is replaced, as by commitObject
   * (its extents are returned). Throws DFS_ERR_OBJECT_CHANGED, changing
   * nothing, when a part no longer holds an extent it held (replaced
   * meanwhile).
   */
  assembleObject(object: ObjectRow, parts: readonly string[], moves: readonly { extentId: string; from: string }[], options: { meta?: string } = {}): ExtentWithFragments[] {
    return this.transaction(() => {
      const old = this.object(object.key);
      const removed = old ? this.dropObjectRows(old.id) : [];
      this.objectSql.insert.run(object);
      if (options.meta !== undefined) this.objectSql.insertMeta.run(object.id, options.meta);
      moves.forEach((m, seq) => {
        if (!this.moveExtent(m.extentId, m.from, object.id, seq)) {
          throw new DfsError('DFS_ERR_OBJECT_CHANGED', `extent ${m.extentId} is no longer part of object ${m.from}`);
        }
      });
      for (const part of parts) {
        if (this.extentsOfObject(part).length > 0) throw new DfsError('DFS_ERR_OBJECT_CHANGED', `object ${part} holds extents not moved`);
        this.objectSql.delete.run(part);
      }
      return removed;
    });
  }

  /** Deletes an object's rows; returns its extents with their fragments. */
  deleteObject(key: string): { object: ObjectRow; extents: ExtentWithFragments[] } | null {
    return this.transaction(() => {
      const object = this.object(key);
      if (!object) return null;
      return { object, extents: this.dropObjectRows(object.id) };
    });
  }

  /**
   * Makes a group of small objects visible in one transaction, with the pack
   * that holds them. Each entry replaces an object of its key (only if it is
   * still `expectReplace`, when given: one that is not fails alone, its bytes
   * dead in the pack). Returns each entry's outcome, and the extents whose
   * files the replaced objects leave to delete.
   */
  commitPacked(pack: NewPack, entries: readonly PackedEntry[]): { outcomes: (DfsError | { replaced: boolean })[]; removed: ExtentWithFragments[] } {
    return this.transaction(() => {
      this.insertPack(pack);
      const removed: ExtentWithFragments[] = [];
      const outcomes = entries.map((entry): DfsError | { replaced: boolean } => {
        const old = this.object(entry.object.key);
        if (entry.expectReplace !== undefined && (old?.id ?? null) !== entry.expectReplace) {
          return new DfsError('DFS_ERR_OBJECT_CHANGED', `"${entry.object.key}" was replaced or deleted meanwhile`);
        }
        if (old) removed.push(...this.dropObjectRows(old.id, pack.extent.id));
        this.objectSql.insert.run(entry.object);
        if (entry.meta !== undefined) this.objectSql.insertMeta.run(entry.object.id, entry.meta);
        this.insertPacked({ objectId: entry.object.id, extentId: pack.extent.id, offset: entry.offset, length: entry.object.size, checksum: entry.checksum });
        return { replaced: old !== null };
      });
      return { outcomes, removed };
    });
  }

  /** Deletes an object's rows (`keep`: a pack not to drop even if this leaves it empty, the one being committed). */
  private dropObjectRows(objectId: string, keep?: string): ExtentWithFragments[] {
    const extents = [...this.dropPacked(objectId, keep), ...this.extentsOfObject(objectId)];
    this.deleteProblemsOf(objectId);
    this.deleteExtentsOf(objectId);
    this.objectSql.delete.run(objectId);
    return extents;
  }
}
