// Fragment files on disk: where they live and how they are made durable.
//
//   <disk>/fragments/<first two hex digits of the extent id>/<extent id>.<index>
//
// The 256 fan-out folders are created (and fsynced) when the disk is added,
// so a write never creates a directory. A fragment is written to a temporary
// name beside its final one, fdatasync'ed, renamed; the caller fsyncs every
// touched directory once (DirectorySync) before the catalogue commit that
// makes the fragment reachable. An fsync that fails is reported as such and
// never retried: the disk goes `suspect`.
import { mkdirSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DfsError } from '../errors.js';
import { fsyncDirectorySync, FRAGMENT_DIR } from '../pool/index.js';
import { TEMP_MARKER } from '../format/index.js';
import { crashPoint, diskFault } from '../faults/index.js';
import { diskGate } from '../kernels/index.js';
import { log } from '../log/index.js';

/** Creates the fan-out folders of a new disk and makes them durable. */
export function prepareDiskLayout(diskPath: string): void {
  const root = join(diskPath, FRAGMENT_DIR);
  mkdirSync(root, { recursive: true });
  for (let i = 0; i < 256; i++) mkdirSync(join(root, i.toString(16).padStart(2, '0')), { recursive: true });
  fsyncDirectorySync(root);
  fsyncDirectorySync(diskPath);
}

/** Temporary names need only be unique among this pool's writers: one process owns a pool. */
let tempCounter = 0;

export type WritePhase = 'open' | 'write' | 'fsync' | 'rename';

/** A failed fragment write, with the phase that failed: a failed fsync makes the disk suspect. */
export class FragmentWriteError extends DfsError {
  constructor(readonly diskId: string, readonly phase: WritePhase, readonly errno: string, path: string, cause: unknown) {
    super('DFS_ERR_DISK_IO', `${phase} of ${path} on disk ${diskId}: ${errno}`, { cause, details: { diskId, phase, errno } });
  }
}

/**
 * Writes header + payload to a temporary file, fdatasyncs and renames it into
 * place. The directory is not fsynced here: see DirectorySync.
 */
export async function writeFragmentFile(diskId: string, path: string, parts: readonly Uint8Array[]): Promise<number> {
  const slash = path.lastIndexOf('/');
  const tmp = `${path.slice(0, slash)}/.${path.slice(slash + 1)}${TEMP_MARKER}${process.pid}-${++tempCounter}`;
  let phase: WritePhase = 'open';
  let handle: Awaited<ReturnType<typeof open>> | null = null;
  let bytes = 0;
  try {
    crashPoint('fragment:open');
    await diskFault('open', tmp);
    handle = await open(tmp, 'wx', 0o644);
    phase = 'write';
    await diskFault('write', tmp);
    for (const part of parts) bytes += part.length;
    let written = 0;
    // writev may write less than asked; loop until every byte is down.
    let pending = parts.filter((p) => p.length > 0);
    while (pending.length > 0) {
      const { bytesWritten } = await handle.writev(pending as Uint8Array[]);
      written += bytesWritten;
      let skip = bytesWritten;
      const rest: Uint8Array[] = [];
      for (const part of pending) {
        if (skip >= part.length) skip -= part.length;
        else {
          rest.push(skip > 0 ? part.subarray(skip) : part);
          skip = 0;
        }
      }
      pending = rest;
      if (bytesWritten === 0 && pending.length > 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
    }
    crashPoint('fragment:written');
    phase = 'fsync';
    await diskFault('fsync', tmp);
    await handle.datasync();
    await handle.close();
    handle = null;
    crashPoint('fragment:synced');
    phase = 'rename';
    await diskFault('rename', path);
    await rename(tmp, path);
    crashPoint('fragment:renamed');
    return written;
  } catch (error) {
    if (handle) await handle.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    const errno = (error as NodeJS.ErrnoException).code ?? 'EIO';
    throw new FragmentWriteError(diskId, phase, errno, path, error);
  }
}

/** fsyncs a directory (what a file created or renamed in it needs to last). */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes to every disk given at once: a disk that fails is logged (`what`
 * names the write) and passed over; when every one fails, the first error is
 * thrown. For the small records kept on each disk (tombstones, assembly records).
 */
export async function writeToEveryDisk(disks: readonly { id: string; path: string }[], what: string, write: (diskPath: string) => Promise<void>): Promise<void> {
  const results = await Promise.allSettled(disks.map((d) => write(d.path)));
  results.forEach((r, i) => {
    if (r.status === 'rejected') log('store').warn({ disk: disks[i]!.id, err: (r.reason as Error).message }, `${what} not written to this disk`);
  });
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure && results.every((r) => r.status === 'rejected')) throw failure.reason;
}

/** Directories touched by a write, fsynced once each before the commit. */
export class DirectorySync {
  private readonly dirs = new Map<string, string>();

  add(diskId: string, path: string): void {
    this.dirs.set(path.slice(0, path.lastIndexOf('/')), diskId);
  }

  get size(): number {
    return this.dirs.size;
  }

  /** fsyncs every directory, 16 at a time; the first failure is thrown as a FragmentWriteError (phase fsync). */
  async syncAll(): Promise<void> {
    const entries = [...this.dirs];
    this.dirs.clear();
    let failure: FragmentWriteError | null = null;
    const next = async (): Promise<void> => {
      for (let entry = entries.pop(); entry && !failure; entry = entries.pop()) {
        const [dir, diskId] = entry;
        try {
          crashPoint('dir:fsync');
          await diskFault('fsync', dir);
          await fsyncDirectory(dir);
        } catch (error) {
          failure ??= new FragmentWriteError(diskId, 'fsync', (error as NodeJS.ErrnoException).code ?? 'EIO', dir, error);
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, next));
    if (failure) throw failure;
  }
}

export async function removeFile(path: string): Promise<boolean> {
  try {
    crashPoint('file:unlink');
    await diskFault('unlink', path);
    await unlink(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads `into.length` bytes at `position` of a file: the count read, fewer only at its end (`disk`: its place in the read queue). */
export async function readAt(path: string, into: Uint8Array, position: number, disk?: number): Promise<number> {
  // A fragment read with its disk named takes a place in that disk's read queue, as the workers' reads do.
  const gate = diskGate();
  await gate.acquire(disk);
  const started = process.hrtime.bigint();
  try {
    const handle = await open(path, 'r');
    try {
      let got = 0;
      while (got < into.length) {
        const { bytesRead } = await handle.read(into, got, into.length - got, position + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got;
    } finally {
      await handle.close();
    }
  } finally {
    gate.release(disk, started);
  }
}
