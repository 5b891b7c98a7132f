// Disk labels: <disk>/dynamicfs-disk.json names the pool and the disk. A
// folder labelled for another pool is never adopted.
import { existsSync, readFileSync, statSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { DfsError } from '../errors.js';
import { writeFileDurableSync } from './durable.js';

export const LABEL_FILE = 'dynamicfs-disk.json';
export const FRAGMENT_DIR = 'fragments';

export interface DiskLabel {
  format: 1;
  poolId: string;
  diskId: string;
  createdAt: string;
}

export function labelPath(diskPath: string): string {
  return join(diskPath, LABEL_FILE);
}

export function requireDirectory(diskPath: string): void {
  let ok = false;
  try {
    ok = statSync(diskPath).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) throw new DfsError('DFS_ERR_DISK_NOT_FOUND', diskPath);
}

/** The label, null when there is none, or 'invalid' when it cannot be parsed. */
export function readLabel(diskPath: string): DiskLabel | null | 'invalid' {
  const path = labelPath(diskPath);
  if (!existsSync(path)) return null;
  try {
    const label = JSON.parse(readFileSync(path, 'utf8')) as DiskLabel;
    return typeof label.poolId === 'string' && typeof label.diskId === 'string' ? label : 'invalid';
  } catch {
    return 'invalid';
  }
}

/** Whether the folder carries the label of this disk of this pool (what a disk that is still there must show). */
export function labelMatches(diskPath: string, poolId: string, diskId: string): boolean {
  const label = readLabel(diskPath);
  return label !== null && label !== 'invalid' && label.poolId === poolId && label.diskId === diskId;
}

/**
 * A folder may join this pool if it has no label or a label of this pool;
 * returns that label (null for none). DFS_ERR_DISK_FOREIGN otherwise.
 */
export function labelForAdoption(path: string, poolId: string): DiskLabel | null {
  const label = readLabel(path);
  if (label === 'invalid') throw new DfsError('DFS_ERR_DISK_FOREIGN', `${path} has an unreadable ${labelPath(path)}`);
  if (label && label.poolId !== poolId) throw new DfsError('DFS_ERR_DISK_FOREIGN', `${path} belongs to pool ${label.poolId}`);
  return label;
}

/** A disk's size and the bytes free to this process (statfs). Throws what statfs throws. */
export function diskSpace(diskPath: string): { capacityBytes: number; freeBytes: number } {
  const s = statfsSync(diskPath);
  return { capacityBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
}

export function writeLabel(diskPath: string, label: DiskLabel): void {
  writeFileDurableSync(labelPath(diskPath), `${JSON.stringify(label, null, 2)}\n`);
}
