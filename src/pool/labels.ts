// Disk labels: <disk>/dynamicfs-disk.json names the pool and the disk. A
// folder labelled for another pool is never adopted.
import { existsSync, readFileSync, statSync } from 'node:fs';
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

export function writeLabel(diskPath: string, label: DiskLabel): void {
  writeFileDurableSync(labelPath(diskPath), `${JSON.stringify(label, null, 2)}\n`);
}
