// Read-only views of a pool for status, health, list-disks, probe-disks,
// list-extents and show-redundancy. Everything here that a scrape or a health
// check needs reads counters, not tables.
import { closeSync, fsyncSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { META_RECOVERED_AT, type DiskRow, type DiskState, type ExtentWithFragments, type ObjectRow } from '../catalog/index.js';
import { count, diskSpace, labelMatches, parsePolicy, policyTolerance, policyWidth } from '../pool/index.js';
import type { Engine } from './engine.js';
import { diskFaultSync } from '../faults/index.js';
import { fragmentPath } from '../format/index.js';

export function listDisks(engine: Engine) {
  return {
    disks: engine.catalog.disks().map((d) => {
      const info = engine.disks.info(d);
      return {
        id: d.id, path: d.path, state: d.state, capacityBytes: info.capacityBytes, usedBytes: info.usedBytes, freeBytes: info.freeBytes,
        storedBytes: d.storedBytes, fragments: d.fragments, available: info.available,
      };
    }),
  };
}

export interface ProbeResult {
  id: string;
  path: string;
  previousState: DiskState;
  state: DiskState;
  exists: boolean;
  labelOk: boolean;
  probeOk: boolean;
  capacityBytes: number;
  freeBytes: number;
  error: string | null;
}

/**
 * Checks each disk: the folder exists, its label names this pool and disk, a
 * probe file can be written, fsynced, read back and removed, and statfs
 * answers. A missing folder or wrong label fails the disk; a failed probe
 * makes it suspect. A probe never promotes a disk: set-disk-health does.
 */
export function probeDisks(engine: Engine): { disks: ProbeResult[] } {
  const results = engine.catalog.disks().map((disk): ProbeResult => {
    const r: ProbeResult = { id: disk.id, path: disk.path, previousState: disk.state, state: disk.state, exists: false, labelOk: false, probeOk: false, capacityBytes: 0, freeBytes: 0, error: null };
    try {
      Object.assign(r, diskSpace(disk.path));
      r.exists = true;
    } catch (error) {
      r.error = `statfs: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
    }
    r.labelOk = r.exists && labelMatches(disk.path, engine.poolId, disk.id);
    if (r.exists && r.labelOk) {
      const path = join(disk.path, `.probe-${randomBytes(4).toString('hex')}`);
      const data = randomBytes(4096);
      try {
        const fd = openSync(path, 'wx+');
        try {
          writeSync(fd, data);
          diskFaultSync('fsync', path);
          fsyncSync(fd);
          const back = Buffer.alloc(data.length);
          readSync(fd, back, 0, back.length, 0);
          r.probeOk = back.equals(data);
          if (!r.probeOk) r.error = 'probe read back different bytes';
        } finally {
          closeSync(fd);
          unlinkSync(path);
        }
      } catch (error) {
        r.error = `probe: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
      }
    } else if (r.exists && !r.labelOk) r.error = 'label missing or not this disk';
    // A disk the probe itself made suspect is cleared by a later clean probe; one made suspect by
    // a failed write (fsync) stays so until an operator says otherwise (set-disk-health).
    const probeMark = `probe_suspect:${disk.id}`;
    let next: DiskState = disk.state;
    if (!r.exists || !r.labelOk) next = 'failed';
    else if (!r.probeOk && disk.state !== 'failed') next = 'suspect';
    else if (r.probeOk && disk.state === 'suspect' && engine.catalog.meta(probeMark) !== null) next = 'healthy';
    if (next === 'suspect' && disk.state !== 'suspect') engine.catalog.setMeta(probeMark, new Date().toISOString());
    if (next !== 'suspect') engine.catalog.deleteMeta(probeMark);
    if (next !== disk.state) {
      engine.catalog.setDiskState(disk.id, next, { trigger: 'probe', reason: r.error ?? 'the probe passed' });
      if (next !== 'healthy') engine.io.error(disk.id);
    }
    r.state = next;
    return r;
  });
  engine.disks.refreshFreeSpace();
  return { disks: results };
}

/** An object as `ls` and the object list route show it. */
export function objectSummary(o: ObjectRow) {
  return { key: o.key, size: o.size, policy: o.policy, extents: o.extents, checksum: o.checksum, createdAt: new Date(o.createdAt).toISOString() };
}

export function objectView(engine: Engine, key: string) {
  const object = engine.catalog.object(key);
  if (!object) return null;
  const packed = engine.catalog.packedOf(object.id);
  const extents = packed ? [engine.catalog.extent(packed.extentId)].filter((e) => e !== null) : engine.catalog.extentsOfObject(object.id);
  const states = { healthy: 0, degraded: 0, unrecoverable: 0 };
  for (const e of extents) states[e.state]++;
  return {
    key: object.key, size: object.size, policy: object.policy, extents: object.extents, checksum: object.checksum,
    objectId: object.id, createdAt: new Date(object.createdAt).toISOString(), extentStates: states,
    // A small object lives in a pack: which one, and where its bytes lie in it.
    packed: packed ? { extent: packed.extentId, offset: packed.offset, length: packed.length, checksum: packed.checksum } : null,
    // Each extent's last verification (a full check of every fragment), and its last repair from the journal.
    history: extents.map((e) => {
      const repair = engine.catalog.lastEventOfExtent(e.id, 'repair');
      return {
        seq: e.seq, extent: e.id, state: e.state,
        verifiedAt: e.verifiedAt === null ? null : new Date(e.verifiedAt).toISOString(),
        lastRepair: repair,
      };
    }),
  };
}

export function extentView(engine: Engine, extent: ExtentWithFragments, key: string) {
  return {
    id: extent.id, key,
    // A pack holds many small objects (its key is empty: `list-extents --key` names the pack of an object).
    pack: engine.catalog.pack(extent.id) !== null,
    seq: extent.seq, size: extent.size, policy: extent.policy, checksum: extent.checksum, state: extent.state,
    verifiedAt: extent.verifiedAt === null ? null : new Date(extent.verifiedAt).toISOString(),
    fragments: extent.fragments.map((f) => {
      const disk = engine.catalog.diskRef(f.diskId);
      return { index: f.index, diskId: f.diskId, path: disk ? fragmentPath(disk.path, extent.id, f.index) : null, checksum: f.checksum, state: f.state };
    }),
  };
}

export function* listExtents(engine: Engine, options: { key?: string } = {}) {
  if (options.key !== undefined) {
    const object = engine.catalog.object(options.key);
    if (!object) return;
    const packed = engine.catalog.packedOf(object.id);
    const extents = packed ? [engine.catalog.extent(packed.extentId)].filter((e) => e !== null) : engine.catalog.extentsOfObject(object.id);
    for (const e of extents) yield extentView(engine, e, object.key);
    return;
  }
  const keys = new Map<string, string>();
  for (const e of engine.catalog.iterateExtents()) {
    let key = keys.get(e.objectId);
    if (key === undefined) {
      key = engine.catalog.objectById(e.objectId)?.key ?? '';
      if (keys.size > 10_000) keys.clear();
      keys.set(e.objectId, key);
    }
    yield extentView(engine, e, key);
  }
}

export function poolStatus(engine: Engine) {
  const counters = engine.catalog.counters();
  const disks = engine.catalog.disks();
  const byState: Record<DiskState, number> = { healthy: 0, degraded: 0, suspect: 0, draining: 0, failed: 0 };
  for (const d of disks) byState[d.state]++;
  return {
    pool: engine.root,
    poolId: engine.poolId,
    extentSize: engine.extentSize,
    defaultPolicy: engine.config.defaultPolicy,
    objects: counters.objects ?? 0,
    logicalBytes: counters.logical_bytes ?? 0,
    storedBytes: disks.reduce((n, d) => n + d.storedBytes, 0),
    disks: { total: disks.length, ...byState },
    extents: engine.catalog.extentCounts(),
    problems: engine.catalog.problems().length,
    /** Set after recover-catalog until a complete scrub pass has verified the payloads. */
    recoveredUnverifiedSince: engine.catalog.meta(META_RECOVERED_AT),
    /** Puts whose process was killed: their files take space until `gc` takes them (at once, whatever the grace period). */
    interruptedWrites: engine.interruptedWrites().map(({ key, pid, startedAt }) => ({ key, pid, startedAt })),
  };
}

export const HEALTH_STATUSES = ['healthy', 'degraded', 'critical'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

/**
 * Pool health: critical when any extent is unrecoverable or the healthy disks
 * cannot hold the default policy; degraded when any extent is degraded or any
 * disk is not healthy; healthy otherwise. Reads counters only.
 */
export function poolHealth(engine: Engine) {
  const counts = engine.catalog.extentCounts();
  const disks: DiskRow[] = engine.catalog.disks();
  const policy = parsePolicy(engine.config.defaultPolicy);
  const healthyDisks = disks.filter((d) => d.state === 'healthy').length;
  const unhealthy = disks.filter((d) => d.state !== 'healthy');
  const recoveredAt = engine.catalog.meta(META_RECOVERED_AT);
  const checks = {
    extents: { status: counts.unrecoverable > 0 ? 'critical' : counts.degraded > 0 ? 'degraded' : 'healthy', ...counts },
    verification: {
      status: recoveredAt ? 'degraded' : 'healthy',
      recoveredAt,
      ...(recoveredAt ? { message: `the catalogue was recovered from fragment headers at ${recoveredAt}: no payload has been verified since; run \`dynamicfs scrub --repair\`` } : {}),
    },
    disks: {
      status: healthyDisks < policyWidth(policy) ? 'critical' : unhealthy.length > 0 ? 'degraded' : 'healthy',
      total: disks.length, healthy: healthyDisks, notHealthy: unhealthy.map((d) => ({ id: d.id, state: d.state })),
      neededForDefaultPolicy: policyWidth(policy),
    },
  } as const;
  const statuses = Object.values(checks).map((c) => c.status as HealthStatus);
  const status: HealthStatus = statuses.includes('critical') ? 'critical' : statuses.includes('degraded') ? 'degraded' : 'healthy';
  const message = status === 'healthy'
    ? 'all extents healthy, all disks healthy'
    : [
      counts.unrecoverable ? `${count(counts.unrecoverable, 'unrecoverable extent')}` : '',
      counts.degraded ? `${count(counts.degraded, 'degraded extent')}` : '',
      healthyDisks < policyWidth(policy) ? `${count(healthyDisks, 'healthy disk')}, ${engine.config.defaultPolicy} needs ${policyWidth(policy)}` : '',
      recoveredAt ? `extents unverified since recover-catalog (${recoveredAt}): run \`dynamicfs scrub --repair\`` : '',
      unhealthy.length ? `${count(unhealthy.length, 'disk')} not healthy (${unhealthy.map((d) => `${d.id} ${d.state}`).join(', ')})` : '',
    ].filter(Boolean).join('; ');
  return { status, message, timestamp: new Date().toISOString(), checks };
}

/**
 * Redundancy by policy: how many extents, in which states, and how many more
 * fragments each could lose (the margin): a full pass over the fragments.
 */
export function showRedundancy(engine: Engine) {
  const rows = engine.catalog.extentMargins();
  const byPolicy = new Map<string, { policy: string; toleratesDiskFailures: number; extents: number; bytes: number; states: Record<string, number>; margins: Record<string, number> }>();
  for (const r of rows) {
    let p = byPolicy.get(r.policy);
    if (!p) byPolicy.set(r.policy, (p = { policy: r.policy, toleratesDiskFailures: policyTolerance(parsePolicy(r.policy)), extents: 0, bytes: 0, states: { healthy: 0, degraded: 0, unrecoverable: 0 }, margins: {} }));
    p.extents++;
    p.bytes += r.size;
    p.states[r.state] = (p.states[r.state] ?? 0) + 1;
    const margin = String(r.good - r.need);
    p.margins[margin] = (p.margins[margin] ?? 0) + 1;
  }
  const objects = engine.catalog.objectsByPolicy();
  const policies = [...byPolicy.values()].map((p) => ({ ...p, objects: objects.find((o) => o.policy === p.policy)?.n ?? 0, minMargin: Math.min(...Object.keys(p.margins).map(Number)) }));
  const healthyDisks = engine.catalog.disks().filter((d) => d.state === 'healthy').length;
  return {
    defaultPolicy: engine.config.defaultPolicy,
    healthyDisks,
    policies,
    minMargin: policies.length ? Math.min(...policies.map((p) => p.minMargin)) : null,
    note: 'margin = verified fragments beyond the minimum needed; 0 means one more loss makes the extent unrecoverable',
  };
}
