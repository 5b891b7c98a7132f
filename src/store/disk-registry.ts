// The pool's disks as the engine sees them: adding (with the checks that keep
// two pools or two disks from sharing files), states, forgetting a drained
// disk, free space as placement counts it, and the reaction to a failed write.
// The catalogue holds the rows; pool.json lists the disks too, so that
// recover-catalog can find them when the catalogue is gone.
import { existsSync, realpathSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { DfsError } from '../errors.js';
import { log } from '../log/index.js';
import { DISK_STATES, type Catalog, type DiskRow, type DiskState } from '../catalog/index.js';
import { fragmentPath } from '../format/index.js';
import {
  chooseDisks, diskSpace, formatPolicy, labelForAdoption, labelPath, policyWidth, requireDirectory, writeLabel, type Policy, type PoolConfig,
} from '../pool/index.js';
import { prepareDiskLayout } from './fragment-io.js';
import type { IoStats } from './io-stats.js';

export interface DiskInfo extends DiskRow {
  capacityBytes: number;
  freeBytes: number;
  usedBytes: number;
  available: boolean;
}

/** What the registry needs of its engine: the pool folder, the catalogue, pool.json, and the I/O counters. */
export interface DiskRegistryHost {
  readonly root: string;
  readonly catalog: Catalog;
  readonly io: IoStats;
  readonly poolId: string;
  readonly config: PoolConfig;
  /** Replaces pool.json's disk list and writes the file. */
  saveDiskList(disks: PoolConfig['disks']): void;
}

/** A disk folder may not be, hold or sit inside the pool folder or another disk: their files would mix. */
export function checkNoOverlap(disk: string, others: readonly string[]): void {
  for (const other of others) {
    if (disk === other || disk.startsWith(`${other}/`) || other.startsWith(`${disk}/`)) {
      throw new DfsError('DFS_ERR_DISK_OVERLAP', `${disk} and ${other}`);
    }
  }
}

export class DiskRegistry {
  /** Free bytes per disk as placement sees them: statfs at open, minus what this process wrote since. */
  private readonly freeBytes = new Map<string, number>();

  constructor(private readonly host: DiskRegistryHost) {}

  private get catalog(): Catalog {
    return this.host.catalog;
  }

  /** A disk by id or by path. */
  resolve(ref: string): DiskRow {
    const byId = this.catalog.disk(ref);
    if (byId) return byId;
    const absolute = resolve(ref);
    const byPath = this.catalog.diskByPath(absolute) ?? (existsSync(absolute) ? this.catalog.diskByPath(realpathSync(absolute)) : null);
    if (byPath) return byPath;
    throw new DfsError('DFS_ERR_DISK_UNKNOWN', ref);
  }

  path(diskId: string): string | null {
    return this.catalog.diskRef(diskId)?.path ?? null;
  }

  fragmentFile(diskId: string, extentId: string, index: number): string | null {
    const path = this.path(diskId);
    return path === null ? null : fragmentPath(path, extentId, index);
  }

  add(path: string): DiskRow {
    requireDirectory(path);
    const real = realpathSync(path);
    const existing = this.catalog.diskByPath(real);
    if (existing) throw new DfsError('DFS_ERR_DISK_DUPLICATE', `${real} is ${existing.id}`);
    checkNoOverlap(real, [realpathSync(this.host.root), ...this.catalog.disks().map((d) => d.path)]);
    const label = labelForAdoption(real, this.host.poolId);
    if (label && this.catalog.disk(label.diskId)) throw new DfsError('DFS_ERR_DISK_DUPLICATE', `${real} carries the label of ${label.diskId}, already in the pool`);
    const id = label?.diskId ?? `disk-${randomBytes(4).toString('hex')}`;
    prepareDiskLayout(real);
    if (!label) writeLabel(real, { format: 1, poolId: this.host.poolId, diskId: id, createdAt: new Date().toISOString() });
    this.catalog.addDisk(id, real, 'healthy');
    this.host.saveDiskList([...this.host.config.disks.filter((d) => d.id !== id), { id, path: real }]);
    this.refreshFreeSpace();
    return this.catalog.disk(id)!;
  }

  setState(ref: string, state: string): DiskRow {
    if (!DISK_STATES.includes(state as DiskState)) throw new DfsError('DFS_ERR_DISK_STATE_INVALID', `"${state}"`);
    const disk = this.resolve(ref);
    this.catalog.setDiskState(disk.id, state as DiskState, { trigger: 'manual', reason: state === 'failed' ? 'fail-disk' : 'set-disk-health' });
    return this.catalog.disk(disk.id)!;
  }

  /** Forgets a drained disk: catalogue row, pool.json entry and its label. */
  forget(diskId: string): void {
    const disk = this.catalog.disk(diskId);
    if (!disk) return;
    this.catalog.removeDisk(diskId);
    this.host.saveDiskList(this.host.config.disks.filter((d) => d.id !== diskId));
    rmSync(labelPath(disk.path), { force: true });
    this.freeBytes.delete(diskId);
  }

  /** A disk's row with its size, use and whether its folder and label are there. */
  info(disk: DiskRow): DiskInfo {
    let space = { capacityBytes: 0, freeBytes: 0 };
    let available = false;
    try {
      space = diskSpace(disk.path);
      available = existsSync(labelPath(disk.path));
    } catch {
      available = false;
    }
    return { ...disk, ...space, usedBytes: Math.max(0, space.capacityBytes - space.freeBytes), available };
  }

  refreshFreeSpace(): void {
    for (const disk of this.catalog.disks()) {
      try {
        this.freeBytes.set(disk.id, diskSpace(disk.path).freeBytes);
      } catch {
        this.freeBytes.set(disk.id, 0);
      }
    }
  }

  /** Healthy disks with room, as placement candidates. */
  placementCandidates(exclude: ReadonlySet<string> = new Set()): { id: string; freeBytes: number }[] {
    return this.catalog
      .diskStates()
      .filter((d) => d.state === 'healthy' && !exclude.has(d.id))
      .map((d) => ({ id: d.id, freeBytes: this.freeBytes.get(d.id) ?? 0 }));
  }

  /** Checks up front that a policy can be placed at all. */
  checkPlaceable(policy: Policy): void {
    chooseDisks(this.placementCandidates(), policyWidth(policy), formatPolicy(policy));
  }

  noteWritten(diskId: string, bytes: number): void {
    this.freeBytes.set(diskId, Math.max(0, (this.freeBytes.get(diskId) ?? 0) - bytes));
  }

  /** Reacts to a failed write on a disk: a failed fsync or I/O error makes it suspect, a vanished folder failed. */
  noteWriteFailure(diskId: string, phase: string, errno: string): DiskState | null {
    const disk = this.catalog.disk(diskId);
    if (!disk) return null;
    this.host.io.error(diskId);
    let next: DiskState | null = null;
    if (errno === 'ENOENT' || errno === 'ENOTDIR') next = 'failed';
    else if (phase === 'fsync' || errno === 'EIO' || errno === 'EROFS') next = 'suspect';
    if (next && disk.state !== next && disk.state !== 'failed') {
      log('store').warn({ disk: diskId, path: disk.path, phase, errno, state: next }, `disk marked ${next}`);
      this.catalog.setDiskState(diskId, next, { trigger: 'write', reason: `${phase} failed: ${errno}` });
    }
    return next;
  }
}
