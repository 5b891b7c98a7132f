// Reading the repair journal: the filters `dynamicfs events` and
// GET /v1/events take, checked the same way on both, and the journal read
// through its own read-only connection (no pool lock: it is read while a
// daemon or another command works on the pool).
import { EVENT_TYPES, EventReader, type EventFilter, type PoolEvent } from '../catalog/index.js';
import { DfsError } from '../errors.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { poolPaths } from '../pool/index.js';
import { parseDuration } from '../scrub/index.js';

/** The newest this many events when no limit is given. */
export const DEFAULT_EVENT_LIMIT = 10_000;
export const MAX_EVENT_LIMIT = 1_000_000;

export interface EventParams {
  since?: unknown;
  after?: unknown;
  type?: unknown;
  disk?: unknown;
  key?: unknown;
  limit?: unknown;
}

const bad = (message: string) => new DfsError('DFS_ERR_EVENTS_FILTER_INVALID', message);

/**
 * A time the journal is read from: an ISO 8601 time ("2026-12-03T08:00:00Z",
 * "2026-12-03"), or a duration back from now ("10m", "2h", "7d").
 */
export function parseSince(value: unknown, now = Date.now()): number {
  if (typeof value === 'string' && /^\s*\d+(\.\d+)?\s*[smhdw]\s*$/i.test(value)) return now - parseDuration(value, 'since') * 1000;
  const t = typeof value === 'string' && /^\d{4}-\d\d-\d\d/.test(value.trim()) ? Date.parse(value) : NaN;
  if (!Number.isFinite(t)) throw bad(`--since ${JSON.stringify(value)}: give an ISO 8601 time (2026-12-03T08:00:00Z) or a duration back from now (10m, 2h, 7d)`);
  return t;
}

function whole(value: unknown, what: string, min: number, max: number): number {
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw bad(`${what} ${JSON.stringify(value)}: want an integer from ${min} to ${max}`);
  return n;
}

/** Checks the filters given on the command line or the query string. `disks` resolves a disk given by its folder to its id. */
export function parseEventFilter(p: EventParams, disks: readonly { id: string; path: string }[] = []): EventFilter {
  const filter: EventFilter = { limit: DEFAULT_EVENT_LIMIT };
  if (p.since !== undefined) filter.since = parseSince(p.since);
  if (p.after !== undefined) filter.after = whole(p.after, '--after', 0, Number.MAX_SAFE_INTEGER);
  if (p.limit !== undefined) filter.limit = whole(p.limit, '--limit', 1, MAX_EVENT_LIMIT);
  if (p.type !== undefined) {
    if (typeof p.type !== 'string' || !(EVENT_TYPES as readonly string[]).includes(p.type)) throw bad(`--type ${JSON.stringify(p.type)}: want one of ${EVENT_TYPES.join(', ')}`);
    filter.type = p.type;
  }
  if (p.disk !== undefined) {
    if (typeof p.disk !== 'string' || p.disk === '') throw bad('--disk: want a disk id or folder');
    filter.disk = disks.find((d) => d.path === p.disk || d.id === p.disk)?.id ?? p.disk;
  }
  if (p.key !== undefined) {
    if (typeof p.key !== 'string') throw bad('--key: want a key prefix');
    filter.key = p.key;
  }
  return filter;
}

/**
 * Runs `fn` on the journal of the pool at `root`, read on its own read-only
 * connection, closed when `fn` has finished (awaited); `fn` gets null when
 * the catalogue predates the journal.
 */
export async function withEventReader<T>(root: string, fn: (reader: EventReader | null) => T | Promise<T>): Promise<T> {
  const reader = EventReader.open(poolPaths(root).catalog);
  try {
    return await fn(reader);
  } finally {
    reader?.close();
  }
}

/** How often a follower looks for new events, and how many it takes at a time. */
export const FOLLOW_POLL_MS = 250;
const FOLLOW_BATCH = 10_000;

/**
 * The journal as it grows, for `events --follow` and the SSE stream: the
 * events matching `filter` now, then each poll's new ones (an empty batch
 * when none came), until `stopped()` says so.
 */
export async function* followEvents(read: (filter: EventFilter) => PoolEvent[], filter: EventFilter, stopped: () => boolean): AsyncGenerator<PoolEvent[]> {
  const first = read(filter);
  yield first;
  // Nothing matched yet: every later match is new.
  let after = first.at(-1)?.id ?? filter.after ?? 0;
  while (!stopped()) {
    await sleep(FOLLOW_POLL_MS);
    if (stopped()) return;
    const next = read({ ...filter, after, limit: FOLLOW_BATCH });
    if (next.length) after = next.at(-1)!.id;
    yield next;
  }
}
