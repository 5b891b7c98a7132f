// One process owns a pool at a time: <pool>/run/owner.lock holds its pid.
// A lock whose pid is dead (same host) is stale and taken over; a live one
// refuses with DFS_ERR_POOL_LOCKED naming the pid and the owner's role.
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, fsyncSync } from 'node:fs';
import { hostname } from 'node:os';
import { DfsError } from '../errors.js';
import { poolPaths } from './config.js';

export interface LockInfo {
  pid: number;
  host: string;
  role: string;
  since: string;
}

export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readLock(root: string): LockInfo | null {
  try {
    return JSON.parse(readFileSync(poolPaths(root).lock, 'utf8')) as LockInfo;
  } catch {
    return null;
  }
}

export class PoolLock {
  private released = false;
  private constructor(private readonly path: string, readonly info: LockInfo) {}

  static acquire(root: string, role: string): PoolLock {
    const paths = poolPaths(root);
    mkdirSync(paths.run, { recursive: true });
    const info: LockInfo = { pid: process.pid, host: hostname(), role, since: new Date().toISOString() };
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const fd = openSync(paths.lock, 'wx', 0o644);
        writeSync(fd, JSON.stringify(info));
        fsyncSync(fd);
        closeSync(fd);
        return new PoolLock(paths.lock, info);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      let text = '';
      try {
        text = readFileSync(paths.lock, 'utf8');
      } catch {
        continue; // released meanwhile: try again
      }
      let owner: LockInfo | null = null;
      try {
        owner = JSON.parse(text) as LockInfo;
      } catch {
        owner = null; // a lock file cut short by a crash before its write
      }
      if (owner && (owner.host !== info.host || isProcessAlive(owner.pid))) {
        throw new DfsError('DFS_ERR_POOL_LOCKED', `pid ${owner.pid} (${owner.role}${owner.host !== info.host ? ` on ${owner.host}` : ''}) since ${owner.since}`, { details: { pid: owner.pid, role: owner.role } });
      }
      // Stale: move it aside atomically; only one taker's rename succeeds.
      const aside = `${paths.lock}.stale-${process.pid}`;
      try {
        renameSync(paths.lock, aside);
      } catch {
        continue;
      }
      let moved = '';
      try { moved = readFileSync(aside, 'utf8'); } catch { /* gone */ }
      if (moved !== text) {
        // Someone else took it over between our read and rename: give it back.
        try { renameSync(aside, paths.lock); } catch { /* their problem now */ }
        continue;
      }
      try { unlinkSync(aside); } catch { /* ignore */ }
    }
    throw new DfsError('DFS_ERR_POOL_LOCKED', 'the lock kept changing hands; try again');
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    try {
      const current = JSON.parse(readFileSync(this.path, 'utf8')) as LockInfo;
      if (current.pid === this.info.pid && current.since === this.info.since) unlinkSync(this.path);
    } catch {
      /* already gone */
    }
  }
}
