// Disk fault management, in the manner of ZFS's zed: every bad fragment a
// read, scrub or repair finds is a `problem` event in the journal, under its
// disk; a disk whose problems of one class (checksum, I/O, missing) reach
// the pool's threshold within its window becomes `suspect` (no new data is
// placed on it; it is still read); a suspect disk that reaches a threshold
// again, counting only errors since it became suspect, becomes `failed`, and
// whoever listens (the scrubber) rebuilds its extents elsewhere. A disk is
// not failed while the pool lacks the room to rebuild what it holds, or
// while another disk is failed or draining with fragments still on it: the
// pool's redundancy comes first, and the disk stays suspect (still a source
// for reads and repairs) with the reason on record.
import { ERROR_CLASSES, type EventOrigin } from '../catalog/index.js';
import { log } from '../log/index.js';
import { formatBytes } from '../pool/index.js';
import type { Engine } from './engine.js';

export type FailedListener = (diskId: string) => void;

function windowText(seconds: number): string {
  return seconds % 3600 === 0 ? `${seconds / 3600} h` : seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}

export class DiskFaults {
  private readonly listeners = new Set<FailedListener>();
  /** The reason a disk's failing was last held back, as journaled (journaled again only when it changes). */
  private readonly held = new Map<string, string>();

  constructor(private readonly engine: Engine) {}

  /** Calls `fn` with each disk this process fails by itself; returns the unsubscribe. */
  onFailed(fn: FailedListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Checks disks that just had problems recorded against the pool's thresholds. */
  check(diskIds: Iterable<string | null | undefined>, origin: EventOrigin): void {
    for (const id of new Set(diskIds)) if (id) this.checkDisk(id, origin);
  }

  /** Errors past a threshold on one disk, as reasons; empty when none is reached. */
  private crossed(diskId: string, sinceChange: number): string[] {
    const faults = this.engine.config.faults;
    const now = Date.now();
    const reasons: string[] = [];
    for (const cls of ERROR_CLASSES) {
      const t = faults[cls];
      const n = this.engine.catalog.diskErrorsSince(diskId, Math.max(now - t.windowSeconds * 1000, sinceChange))[cls];
      if (n >= t.errors) reasons.push(`${n} ${cls} errors within ${windowText(t.windowSeconds)} (threshold ${t.errors})`);
    }
    return reasons;
  }

  private checkDisk(diskId: string, origin: EventOrigin): void {
    const disk = this.engine.catalog.diskRef(diskId);
    if (!disk || disk.state === 'failed' || disk.state === 'draining') return;
    if (disk.state !== 'suspect') {
      const reasons = this.crossed(diskId, 0);
      if (reasons.length === 0) return;
      const reason = reasons.join('; ');
      log('store').warn({ disk: diskId, path: disk.path, reason }, 'disk marked suspect by its error count');
      this.engine.catalog.setDiskState(diskId, 'suspect', { trigger: 'fault', job: origin.job ?? null, reason });
      return;
    }
    if (!this.engine.config.faults.autoFail) return;
    // Suspect: only errors since it became so count towards failing it.
    const reasons = this.crossed(diskId, this.engine.catalog.lastDiskStateChange(diskId) ?? 0);
    if (reasons.length === 0) return;
    const reason = reasons.join('; ');
    const hold = this.holdReason(diskId);
    if (hold) {
      if (this.held.get(diskId) !== hold) {
        this.held.set(diskId, hold);
        log('store').warn({ disk: diskId, reason, hold }, 'disk not failed: the pool cannot spare it now');
        this.engine.catalog.recordEvents([{ type: 'disk_state', trigger: 'fault', job: origin.job ?? null, disk: diskId, previousState: 'suspect', state: 'suspect', result: 'fail_deferred', reason: `${reason}; kept: ${hold}` }]);
      }
      return;
    }
    this.held.delete(diskId);
    log('store').error({ disk: diskId, path: disk.path, reason }, 'disk failed by its error count; its extents will be rebuilt elsewhere');
    this.engine.catalog.setDiskState(diskId, 'failed', { trigger: 'fault', job: origin.job ?? null, reason });
    for (const fn of this.listeners) fn(diskId);
  }

  /** Why a suspect disk must not be failed now (null when it may): its data needs room, and the pool's redundancy comes first. */
  holdReason(diskId: string): string | null {
    const catalog = this.engine.catalog;
    const failing = catalog.disks().filter((d) => d.id !== diskId && (d.state === 'failed' || d.state === 'draining') && d.fragments > 0);
    if (failing.length) return `${failing.map((d) => `${d.id} is ${d.state} with ${d.fragments} fragments still on it`).join(', ')}: its rebuild comes first`;
    const widest = catalog.widestPolicyOnDisk(diskId);
    const candidates = this.engine.disks.placementCandidates(new Set([diskId]));
    if (widest && candidates.length < widest.width) {
      return `the pool lacks room: its ${widest.policy} extents need ${widest.width} healthy disks besides this one, and there are ${candidates.length}`;
    }
    const stored = catalog.disk(diskId)?.storedBytes ?? 0;
    const free = candidates.reduce((n, c) => n + c.freeBytes, 0);
    if (stored > free) return `the pool lacks room: ${formatBytes(stored)} to rebuild, ${formatBytes(free)} free on the healthy disks`;
    return null;
  }
}
