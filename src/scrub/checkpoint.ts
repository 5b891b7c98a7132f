// What a restart of the background scrubber must keep: its state, the pass
// under way with its cursor, and the last completed pass. One JSON record in
// the catalogue's meta table (key `scrub`), with a version so that a later
// format can read (or knowingly refuse) an earlier one.
//
// Versions: 0 had no `version` field (the same fields otherwise); 1 adds it.
// A record from a newer version than this code knows is left in place and
// this process starts from idle, rather than misreading a cursor.
import type { Catalog } from '../catalog/index.js';
import { log } from '../log/index.js';
import type { PassState, PassSummary } from './pass.js';

export type ScrubState = 'idle' | 'running' | 'paused' | 'stopped';
export const SCRUB_STATES: readonly ScrubState[] = ['idle', 'running', 'paused', 'stopped'];

export const CHECKPOINT_VERSION = 1;
const META_KEY = 'scrub';

export interface Checkpoint {
  version: typeof CHECKPOINT_VERSION;
  state: ScrubState;
  pass: PassState | null;
  lastPass: (PassSummary & { id: string; trigger: string }) | null;
  lastCompletedAt: number | null;
  lastRunAt: number | null;
}

export function emptyCheckpoint(): Checkpoint {
  return { version: CHECKPOINT_VERSION, state: 'idle', pass: null, lastPass: null, lastCompletedAt: null, lastRunAt: null };
}

/** Reads the checkpoint; an absent, unreadable or newer record gives an idle scrubber (and says why). */
export function loadCheckpoint(catalog: Catalog): { checkpoint: Checkpoint; writable: boolean } {
  const text = catalog.meta(META_KEY);
  if (!text) return { checkpoint: emptyCheckpoint(), writable: true };
  let record: Partial<Checkpoint> & { version?: unknown };
  try {
    record = JSON.parse(text) as typeof record;
  } catch {
    log('scrub').warn('the persisted scrub state is unreadable; starting from idle');
    return { checkpoint: emptyCheckpoint(), writable: true };
  }
  const version = record.version ?? 0;
  if (typeof version !== 'number' || version > CHECKPOINT_VERSION || version < 0) {
    log('scrub').warn({ version, known: CHECKPOINT_VERSION }, 'the persisted scrub state is from a newer version; starting from idle and leaving it in place');
    return { checkpoint: emptyCheckpoint(), writable: false };
  }
  const state = SCRUB_STATES.includes(record.state as ScrubState) ? record.state! : 'idle';
  return { checkpoint: { ...emptyCheckpoint(), ...record, state, version: CHECKPOINT_VERSION }, writable: true };
}

/** State changes are committed durably; the periodic cursor checkpoints (`relaxed`) need not wait for the disk. */
export function saveCheckpoint(catalog: Catalog, checkpoint: Checkpoint, relaxed = false): void {
  const text = JSON.stringify(checkpoint);
  if (relaxed) catalog.setMetaRelaxed(META_KEY, text);
  else catalog.setMeta(META_KEY, text);
}
