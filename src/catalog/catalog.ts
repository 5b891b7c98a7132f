// The SQLite catalogue: which objects exist, their extents, where every
// fragment lives, disk states, problems found. better-sqlite3 is synchronous,
// which suits SQLite: each call is microseconds, and one transaction per
// object commit keeps writes atomic. WAL with synchronous=FULL, so that a
// commit that acknowledges a write is on disk when it returns.
//
// One file per table, each holding its own statements, stacked so that a
// table's transactions can reach the ones below it:
//   base.ts (connection, transactions, meta, counters) < events.ts (the
//   repair journal) < disks.ts
//   < extents.ts (extents, fragments) < problems.ts < packs.ts (packs, packed)
//   < objects.ts < s3.ts (buckets, multipart uploads) < Catalog.
// The schema and its migrations are in schema.ts.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { DfsError } from '../errors.js';
import { S3Table } from './s3.js';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';

export class Catalog extends S3Table {
  private constructor(db: Database.Database) {
    super(db);
  }

  /** Opens (or, with `create`, creates) the catalogue and brings its schema up to date. */
  static open(path: string, options: { create?: boolean; poolId?: string } = {}): Catalog {
    if (!options.create && !existsSync(path)) {
      throw new DfsError('DFS_ERR_CATALOG_CORRUPT', `${path} is missing`);
    }
    let db: Database.Database;
    try {
      db = new Database(path, { fileMustExist: !options.create });
      // A catalogue is created by init alone: an empty file (truncated, or created by
      // something else) is a lost catalogue, never a new empty pool. Checked before
      // anything is written (setting WAL mode would write a header into it).
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version === 0 && !options.create) {
        db.close();
        throw new DfsError('DFS_ERR_CATALOG_CORRUPT', `${path} is empty (truncated?)`);
      }
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      // A WAL of at most about 1 MiB: checkpointed every 256 pages and cut back to 1 MiB after each
      // (SQLite's defaults let it stay at 4 MiB and more for good, which after a burst of small puts
      // was a sixth of the payload of 6,000 objects of 4 KiB: npm run bench:small).
      db.pragma('wal_autocheckpoint = 256');
      db.pragma('journal_size_limit = 1048576');
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = OFF');
      if (version > SCHEMA_VERSION) {
        db.close();
        throw new DfsError('DFS_ERR_CATALOG_VERSION', `schema ${version}, this build knows up to ${SCHEMA_VERSION}`);
      }
      for (let v = version; v < SCHEMA_VERSION; v++) {
        db.transaction(() => {
          db.exec(MIGRATIONS[v]!);
          db.pragma(`user_version = ${v + 1}`);
        })();
      }
    } catch (cause) {
      if (cause instanceof DfsError) throw cause;
      throw new DfsError('DFS_ERR_CATALOG_CORRUPT', `${path}: ${(cause as Error).message}`, { cause });
    }
    let catalog: Catalog;
    try {
      catalog = new Catalog(db);
      if (options.poolId) {
        const stored = catalog.meta('pool_id');
        if (stored === null && options.create) catalog.setMeta('pool_id', options.poolId);
        else if (stored === null) throw new DfsError('DFS_ERR_CATALOG_CORRUPT', `${path} names no pool`);
        else if (stored !== options.poolId) {
          throw new DfsError('DFS_ERR_CATALOG_POOL_MISMATCH', `pool.json says ${options.poolId}, ${path} says ${stored}; put the catalogue's poolId back in pool.json (the disks' labels name it too)`);
        }
      }
    } catch (cause) {
      if (db.open) db.close();
      if (cause instanceof DfsError) throw cause;
      throw new DfsError('DFS_ERR_CATALOG_CORRUPT', `${path}: ${(cause as Error).message}`, { cause });
    }
    return catalog;
  }
}
