// The connection every table shares: transactions (with the crash points the
// reliability suites use), relaxed commits for progress that acknowledges
// nothing, and the two small tables without a domain of their own: meta (a
// key-value store) and counters (kept by triggers).
import type Database from 'better-sqlite3';
import { crashPoint } from '../faults/index.js';
import type { ExtentCounts } from './rows.js';

export class CatalogBase {
  /** The connection, for the tables and for tests that inspect rows; other domains use the methods. */
  readonly db: Database.Database;
  private readonly baseSql;

  protected constructor(db: Database.Database) {
    this.db = db;
    const p = (sql: string) => db.prepare(sql);
    this.baseSql = {
      counters: p('SELECT name, value FROM counters'),
      metaGet: p('SELECT value FROM meta WHERE key = ?'),
      metaSet: p('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      metaDelete: p('DELETE FROM meta WHERE key = ?'),
      metaRange: p('SELECT key, value FROM meta WHERE key >= ? AND key < ? ORDER BY key'),
    };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Folds the write-ahead log into the database file and empties it. */
  checkpointWal(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  transaction<T>(fn: () => T): T {
    const result = this.db.transaction(() => {
      const value = fn();
      crashPoint('catalog:commit'); // dying here rolls the transaction back
      return value;
    })();
    crashPoint('catalog:committed');
    return result;
  }

  /** Runs `fn` without waiting for the disk at commit (WAL, synchronous=NORMAL): for progress a power cut may roll back a little. */
  protected relaxed<T>(fn: () => T): T {
    this.db.pragma('synchronous = NORMAL');
    try {
      return fn();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  // ---- meta

  meta(key: string): string | null {
    const row = this.baseSql.metaGet.get(key) as { value: string } | undefined;
    return row?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.baseSql.metaSet.run(key, value);
  }

  /** setMeta without waiting for the disk (see relaxed). */
  setMetaRelaxed(key: string, value: string): void {
    this.relaxed(() => this.baseSql.metaSet.run(key, value));
  }

  deleteMeta(key: string): void {
    this.baseSql.metaDelete.run(key);
  }

  /** deleteMeta without waiting for the disk (see relaxed). */
  deleteMetaRelaxed(key: string): void {
    this.relaxed(() => this.baseSql.metaDelete.run(key));
  }

  /** Meta rows whose key starts with `prefix`. */
  metaWithPrefix(prefix: string): { key: string; value: string }[] {
    return this.baseSql.metaRange.all(prefix, `${prefix}\uffff`) as { key: string; value: string }[];
  }

  // ---- counters (maintained by triggers)

  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const row of this.baseSql.counters.all() as { name: string; value: number }[]) out[row.name] = row.value;
    return out;
  }

  extentCounts(): ExtentCounts {
    const c = this.counters();
    return { healthy: c.extents_healthy ?? 0, degraded: c.extents_degraded ?? 0, unrecoverable: c.extents_unrecoverable ?? 0, total: c.extents ?? 0 };
  }
}
