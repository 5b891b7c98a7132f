// The repair journal: an append-only table of what was found wrong and what
// was done about it (problems, repairs, failed repairs, disk state changes,
// rewrites), one row per event. An event is written in the transaction of
// the change it describes (a repair's event commits with the fragment rows
// it moves), so the journal never claims what did not happen and never
// misses what did. It lives in the catalogue, in the pool's folder, not on
// the data disks it describes. Triggers keep its counters (events by type,
// errors by disk and class, its size), and retention by age and size keeps
// it bounded.
import Database from 'better-sqlite3';
import { DfsError } from '../errors.js';
import { CatalogBase } from './base.js';
import type { DiskState } from './rows.js';

export const EVENT_TYPES = ['problem', 'problem_cleared', 'repair', 'repair_failed', 'disk_state', 'rewrite'] as const;
export type EventType = (typeof EVENT_TYPES)[number];
export const EVENT_TRIGGERS = ['scrub', 'rebuild', 'read', 'drain', 'change-policy', 'manual', 'fault', 'write', 'probe'] as const;
export type EventTrigger = (typeof EVENT_TRIGGERS)[number];
/** Error classes a disk's problems count under (its fault thresholds and its error counters). */
export const ERROR_CLASSES = ['checksum', 'io', 'missing'] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

/** Kinds of bad fragment that are not bad bytes: an I/O error, or bytes not there. Every other kind counts as `checksum`. */
const KIND_CLASSES: Readonly<Record<string, ErrorClass>> = { unreadable: 'io', missing: 'missing' };

/** Which class a kind of bad fragment counts under. */
export function errorClassOf(kind: string): ErrorClass {
  return KIND_CLASSES[kind] ?? 'checksum';
}
/** The same, in the trigger that keeps the per-disk counters. */
const CLASS_SQL = `CASE NEW.kind ${Object.entries(KIND_CLASSES).map(([k, c]) => `WHEN '${k}' THEN '${c}'`).join(' ')} ELSE 'checksum' END`;

export interface EventSource {
  fragment: number;
  disk: string;
  checksum: string;
}

/** Who caused an event: what was running (trigger) and which pass or job it was. */
export interface EventOrigin {
  trigger: EventTrigger;
  job?: string | null;
}

/** An event as it is written; every field but type and trigger may be left out (null). */
export interface NewEvent extends EventOrigin {
  type: EventType;
  key?: string | null;
  extent?: string | null;
  seq?: number | null;
  fragment?: number | null;
  /** The disk the event is about: where the bad fragment was, or whose state changed. */
  disk?: string | null;
  kind?: string | null;
  expectedChecksum?: string | null;
  observedChecksum?: string | null;
  writtenChecksum?: string | null;
  /** A repair: the disk the new copy was written to. */
  toDisk?: string | null;
  sources?: EventSource[] | null;
  bytes?: number | null;
  durationMs?: number | null;
  result?: string | null;
  previousState?: DiskState | null;
  state?: DiskState | null;
  reason?: string | null;
}

/** An event as it is read back: every field present, null where it does not apply. */
export interface PoolEvent {
  id: number;
  time: string;
  type: EventType;
  trigger: EventTrigger;
  job: string | null;
  key: string | null;
  extent: string | null;
  seq: number | null;
  fragment: number | null;
  disk: string | null;
  kind: string | null;
  expectedChecksum: string | null;
  observedChecksum: string | null;
  writtenChecksum: string | null;
  toDisk: string | null;
  sources: EventSource[] | null;
  bytes: number | null;
  durationMs: number | null;
  result: string | null;
  previousState: DiskState | null;
  state: DiskState | null;
  reason: string | null;
}

export interface EventFilter {
  /** Events at or after this time (ms since the epoch). */
  since?: number;
  /** Events with a larger id (a reader following the journal). */
  after?: number;
  type?: string;
  disk?: string;
  /** Events whose key starts with this. */
  key?: string;
  /** The newest `limit` that match (still given oldest first). */
  limit?: number;
}

export interface EventRetention {
  maxBytes: number;
  maxAgeMs: number;
}

export const DEFAULT_EVENT_RETENTION: EventRetention = { maxBytes: 64 * 1024 * 1024, maxAgeMs: 90 * 86_400_000 };
/** What a row costs beyond its JSON body (its id, time and indexed columns), in the size counter. */
const ROW_OVERHEAD = 96;

/** The journal's schema (migration 7). */
export const EVENTS_SCHEMA = `
  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    type TEXT NOT NULL,
    disk TEXT,
    key TEXT,
    extent TEXT,
    kind TEXT,
    body TEXT NOT NULL
  );
  CREATE INDEX events_by_time ON events (time);
  CREATE INDEX events_by_disk ON events (disk, time) WHERE disk IS NOT NULL;
  CREATE INDEX events_by_extent ON events (extent, id) WHERE extent IS NOT NULL;
  INSERT INTO counters (name, value) VALUES ('events_bytes', 0);
  CREATE TRIGGER events_ins AFTER INSERT ON events BEGIN
    INSERT INTO counters (name, value) VALUES ('events:' || NEW.type, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1;
    UPDATE counters SET value = value + length(NEW.body) + ${ROW_OVERHEAD} WHERE name = 'events_bytes';
    INSERT INTO counters (name, value) SELECT 'disk_errors:' || NEW.disk || ':' || ${CLASS_SQL}, 1
      WHERE NEW.type = 'problem' AND NEW.disk IS NOT NULL ON CONFLICT (name) DO UPDATE SET value = value + 1;
    INSERT INTO counters (name, value) SELECT 'disk_faults:' || NEW.disk || ':' || json_extract(NEW.body, '$.state'), 1
      WHERE NEW.type = 'disk_state' AND json_extract(NEW.body, '$.trigger') = 'fault' AND json_extract(NEW.body, '$.result') = json_extract(NEW.body, '$.state')
      ON CONFLICT (name) DO UPDATE SET value = value + 1;
  END;
  CREATE TRIGGER events_del AFTER DELETE ON events BEGIN
    UPDATE counters SET value = value - length(OLD.body) - ${ROW_OVERHEAD} WHERE name = 'events_bytes';
  END;
  ALTER TABLE problems ADD COLUMN observed_checksum TEXT;
`;

const BODY_FIELDS = ['trigger', 'job', 'seq', 'fragment', 'expectedChecksum', 'observedChecksum', 'writtenChecksum', 'toDisk', 'sources', 'bytes', 'durationMs', 'result', 'previousState', 'state', 'reason'] as const;

interface EventRow {
  id: number;
  time: number;
  type: EventType;
  disk: string | null;
  key: string | null;
  extent: string | null;
  kind: string | null;
  body: string;
}

function fromRow(r: EventRow): PoolEvent {
  const body = JSON.parse(r.body) as Partial<PoolEvent>;
  return {
    id: r.id, time: new Date(r.time).toISOString(), type: r.type, trigger: body.trigger!, job: body.job ?? null,
    key: r.key, extent: r.extent, seq: body.seq ?? null, fragment: body.fragment ?? null, disk: r.disk, kind: r.kind,
    expectedChecksum: body.expectedChecksum ?? null, observedChecksum: body.observedChecksum ?? null, writtenChecksum: body.writtenChecksum ?? null,
    toDisk: body.toDisk ?? null, sources: body.sources ?? null, bytes: body.bytes ?? null, durationMs: body.durationMs ?? null, result: body.result ?? null,
    previousState: body.previousState ?? null, state: body.state ?? null, reason: body.reason ?? null,
  };
}

/** The WHERE clause and arguments of a filter. */
function where(filter: EventFilter): { sql: string; args: unknown[] } {
  const parts: string[] = [];
  const args: unknown[] = [];
  const add = (sql: string, ...values: unknown[]) => {
    parts.push(sql);
    args.push(...values);
  };
  if (filter.after !== undefined) add('id > ?', filter.after);
  if (filter.since !== undefined) add('time >= ?', filter.since);
  if (filter.type !== undefined) add('type = ?', filter.type);
  if (filter.disk !== undefined) add('disk = ?', filter.disk);
  if (filter.key !== undefined) add('key >= ? AND key < ?', filter.key, `${filter.key}\u{10ffff}`);
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', args };
}

/** Statements by SQL text, per connection: a follower asks the same query four times a second. */
const statements = new WeakMap<Database.Database, Map<string, Database.Statement>>();

function prepared(db: Database.Database, sql: string): Database.Statement {
  let byText = statements.get(db);
  if (!byText) statements.set(db, (byText = new Map()));
  let statement = byText.get(sql);
  if (!statement) byText.set(sql, (statement = db.prepare(sql)));
  return statement;
}

/** Events matching a filter, oldest first (the newest `limit` of them when a limit is given). */
export function queryEvents(db: Database.Database, filter: EventFilter): PoolEvent[] {
  const { sql, args } = where(filter);
  const columns = 'id, time, type, disk, key, extent, kind, body';
  const rows = filter.limit !== undefined
    ? (prepared(db, `SELECT * FROM (SELECT ${columns} FROM events ${sql} ORDER BY id DESC LIMIT ?) ORDER BY id`).all(...args, filter.limit) as EventRow[])
    : (prepared(db, `SELECT ${columns} FROM events ${sql} ORDER BY id`).all(...args) as EventRow[]);
  return rows.map(fromRow);
}

/**
 * The journal read on its own connection, read-only and without the pool's
 * lock: `events` (and `events --follow`) read it while a daemon or another
 * command works on the pool. Null when the catalogue predates the journal.
 */
export class EventReader {
  private constructor(private readonly db: Database.Database) {}

  static open(path: string): EventReader | null {
    let db: Database.Database | null = null;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
      db.pragma('busy_timeout = 5000');
      const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").get();
      if (has) return new EventReader(db);
      db.close();
      return null;
    } catch (cause) {
      if (db?.open) db.close();
      throw new DfsError('DFS_ERR_CATALOG_CORRUPT', `${path}: ${(cause as Error).message}`, { cause });
    }
  }

  events(filter: EventFilter): PoolEvent[] {
    return queryEvents(this.db, filter);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

export class EventTable extends CatalogBase {
  private readonly eventSql;
  private retention: EventRetention = DEFAULT_EVENT_RETENTION;
  private appendedSincePrune = 0;
  private lastAgePrune = 0;

  protected constructor(db: Database.Database) {
    super(db);
    const p = (sql: string) => db.prepare(sql);
    this.eventSql = {
      insert: p('INSERT INTO events (time, type, disk, key, extent, kind, body) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      bytes: p("SELECT value FROM counters WHERE name = 'events_bytes'"),
      pruneOldest: p('DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?)'),
      pruneBefore: p('DELETE FROM events WHERE time < ?'),
      count: p('SELECT count(*) AS n FROM events'),
      diskErrors: p(`SELECT kind, count(*) AS n FROM events WHERE disk = ? AND time >= ? AND type = 'problem' GROUP BY kind`),
      lastOfExtent: p('SELECT id, time, type, disk, key, extent, kind, body FROM events WHERE extent = ? AND type = ? ORDER BY id DESC LIMIT 1'),
      lastStateChange: p(`SELECT max(time) AS t FROM events WHERE disk = ? AND type = 'disk_state' AND json_extract(body, '$.result') IS NOT 'fail_deferred'`),
    };
  }

  /** How long and how much of the journal is kept (pool.json's `events`). */
  setEventRetention(retention: EventRetention): void {
    this.retention = retention;
  }

  /** Writes events; called inside the transaction of the change they describe, so they commit with it. */
  protected appendEvents(events: readonly NewEvent[], now = Date.now()): void {
    for (const e of events) {
      const body: Record<string, unknown> = {};
      for (const f of BODY_FIELDS) if (e[f] !== undefined && e[f] !== null) body[f] = e[f];
      this.eventSql.insert.run(now, e.type, e.disk ?? null, e.key ?? null, e.extent ?? null, e.kind ?? null, JSON.stringify(body));
    }
    this.appendedSincePrune += events.length;
    if (this.appendedSincePrune >= 64) this.pruneEvents(now);
  }

  /** Records events in a transaction of their own (a rewrite, a state change not tied to other rows). */
  recordEvents(events: readonly NewEvent[]): void {
    if (events.length) this.transaction(() => this.appendEvents(events));
  }

  /** Drops the oldest events until the journal is within its size, and those older than its age limit. */
  pruneEvents(now = Date.now()): { deleted: number } {
    this.appendedSincePrune = 0;
    let deleted = 0;
    if (now - this.lastAgePrune > 60_000) {
      this.lastAgePrune = now;
      deleted += this.eventSql.pruneBefore.run(now - this.retention.maxAgeMs).changes;
    }
    for (let i = 0; i < 100 && this.eventBytes() > this.retention.maxBytes; i++) {
      // A tenth at a time (at least 64 rows): pruning is rare, not once per event.
      const n = Math.max(64, Math.ceil((this.eventSql.count.get() as { n: number }).n / 10));
      const gone = this.eventSql.pruneOldest.run(n).changes;
      deleted += gone;
      if (gone === 0) break;
    }
    return { deleted };
  }

  /** The journal's size as counted (bodies and a fixed cost per row). */
  eventBytes(): number {
    return (this.eventSql.bytes.get() as { value: number } | undefined)?.value ?? 0;
  }

  events(filter: EventFilter = {}): PoolEvent[] {
    return queryEvents(this.db, filter);
  }

  /** A disk's problems since a time, by error class: what its fault thresholds are checked against. */
  diskErrorsSince(diskId: string, since: number): Record<ErrorClass, number> {
    const out: Record<ErrorClass, number> = { checksum: 0, io: 0, missing: 0 };
    for (const r of this.eventSql.diskErrors.all(diskId, since) as { kind: string; n: number }[]) out[errorClassOf(r.kind ?? '')] += r.n;
    return out;
  }

  /**
   * Copies the journal of another catalogue file into this one, ids kept (a
   * catalogue rebuilt by recover-catalog keeps the story of the one it
   * replaces). Returns how many events came; 0 when the file has none or
   * cannot be read.
   */
  importEvents(path: string): number {
    try {
      this.db.prepare('ATTACH DATABASE ? AS old').run(path);
    } catch {
      return 0;
    }
    try {
      const has = this.db.prepare("SELECT 1 FROM old.sqlite_master WHERE type = 'table' AND name = 'events'").get();
      if (!has) return 0;
      return this.transaction(() => this.db.prepare('INSERT OR IGNORE INTO events (id, time, type, disk, key, extent, kind, body) SELECT id, time, type, disk, key, extent, kind, body FROM old.events ORDER BY id').run().changes);
    } catch {
      return 0;
    } finally {
      this.db.exec('DETACH DATABASE old');
    }
  }

  /** When a disk's state last changed, by the journal (null when it never did since the journal began). */
  lastDiskStateChange(diskId: string): number | null {
    return (this.eventSql.lastStateChange.get(diskId) as { t: number | null }).t;
  }

  /** An extent's most recent event of a type (its last repair, for stat). */
  lastEventOfExtent(extentId: string, type: EventType): PoolEvent | null {
    const row = this.eventSql.lastOfExtent.get(extentId, type) as EventRow | undefined;
    return row ? fromRow(row) : null;
  }
}
