// Tombstones: what recover-catalog needs to know about deletes. A deleted
// object's files go at once, but a small object's bytes stay in its pack (as
// dead bytes) until compaction rewrites the pack, and a catalogue rebuilt
// from the disks would bring it back. So each delete appends a line to
// <disk>/tombstones.log on every disk of the pool before it is answered:
// the key, the deleted version's creation time and the time of the delete.
// Recovery treats a tombstone as a version of its key that wins over every
// version created at or before that time (a later put of the key wins over
// it). Deletes that arrive while a write is in flight share the next one:
// one append and one fdatasync per disk for the lot. gc drops tombstones
// that no file on the disks can contradict any more (older than every pack
// and than gc's grace period).
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Engine } from './engine.js';
import { writeToEveryDisk } from './fragment-io.js';

export const TOMBSTONE_FILE = 'tombstones.log';

export interface Tombstone {
  key: string;
  /** The deleted version's creation time (ms): versions created at or before it are dead. */
  createdAt: number;
  /** When the delete happened (ms). */
  deletedAt: number;
}

function line(t: Tombstone): string {
  return `${JSON.stringify([t.createdAt, t.deletedAt, t.key])}\n`;
}

/** The tombstones of one disk's log; a torn last line (a crash mid-append) is skipped. */
export async function readTombstones(diskPath: string): Promise<Tombstone[]> {
  let text: string;
  try {
    text = await readFile(join(diskPath, TOMBSTONE_FILE), 'utf8');
  } catch {
    return [];
  }
  const out: Tombstone[] = [];
  for (const l of text.split('\n')) {
    if (l === '') continue;
    try {
      const [createdAt, deletedAt, key] = JSON.parse(l) as [unknown, unknown, unknown];
      if (typeof createdAt === 'number' && typeof deletedAt === 'number' && typeof key === 'string') out.push({ key, createdAt, deletedAt });
    } catch {
      // torn or damaged line
    }
  }
  return out;
}

/** Appends `text` to a disk's log and makes it durable. */
async function append(diskPath: string, text: string): Promise<void> {
  const handle = await open(join(diskPath, TOMBSTONE_FILE), 'a', 0o644);
  try {
    await handle.write(text);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** The engine's tombstone writer: group commit of deletes to every disk's log, and pruning, one at a time. */
export class TombstoneWriter {
  private pending: { text: string; resolve(): void; reject(error: unknown): void }[] = [];
  private prunes: { before: number; dryRun: boolean; resolve(r: { dropped: number; kept: number }): void; reject(error: unknown): void }[] = [];
  private writing: Promise<void> | null = null;

  constructor(private readonly engine: Engine) {}

  /** Resolves once the tombstone is durable on every disk that can take it (rejects when none could). */
  record(tombstone: Tombstone): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ text: line(tombstone), resolve, reject });
      this.writing ??= this.run();
    });
  }

  /** Drops the tombstones deleted before `before` from every log (between appends, never during one). */
  prune(before: number, dryRun: boolean): Promise<{ dropped: number; kept: number }> {
    return new Promise((resolve, reject) => {
      this.prunes.push({ before, dryRun, resolve, reject });
      this.writing ??= this.run();
    });
  }

  private async run(): Promise<void> {
    while (this.pending.length > 0 || this.prunes.length > 0) {
      if (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        const text = batch.map((b) => b.text).join('');
        const disks = this.engine.catalog.disks().filter((d) => d.state !== 'failed');
        await writeToEveryDisk(disks, 'tombstone', (diskPath) => append(diskPath, text)).then(
          () => batch.forEach((b) => b.resolve()),
          (error: unknown) => batch.forEach((b) => b.reject(error)),
        );
        continue;
      }
      const job = this.prunes.shift()!;
      await pruneTombstones(this.engine, job.before, job.dryRun).then(job.resolve, job.reject);
    }
    this.writing = null;
  }

  /** Waits for tombstones being written (the engine's close). */
  async close(): Promise<void> {
    while (this.writing) await this.writing;
  }
}

/**
 * Rewrites each disk's log without the tombstones no file can contradict:
 * deleted before `before` (the oldest pack's creation, less gc's grace).
 * Returns how many were dropped (summed over disks) and how many are kept.
 */
async function pruneTombstones(engine: Engine, before: number, dryRun: boolean): Promise<{ dropped: number; kept: number }> {
  let dropped = 0;
  let kept = 0;
  for (const disk of engine.catalog.disks()) {
    if (disk.state === 'failed') continue;
    const all = await readTombstones(disk.path);
    const keep = all.filter((t) => t.deletedAt >= before);
    dropped += all.length - keep.length;
    kept += keep.length;
    if (dryRun || keep.length === all.length) continue;
    const path = join(disk.path, TOMBSTONE_FILE);
    if (keep.length === 0) {
      await rm(path, { force: true });
      continue;
    }
    const tmp = `${path}.tmp-${process.pid}`;
    const handle = await open(tmp, 'w', 0o644);
    try {
      await handle.write(keep.map(line).join(''));
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  }
  return { dropped, kept };
}
