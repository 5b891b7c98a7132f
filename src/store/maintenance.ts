// Maintenance that moves fragments: repair of one extent (shared by rebuild,
// drain and the scrubber), rebuild of everything degraded, draining a disk
// before it leaves, and re-encoding objects under another policy.
import { access } from 'node:fs/promises';
import { DfsError, isDfsError } from '../errors.js';
import { log } from '../log/index.js';
import type { EventOrigin, EventSource, ExtentWithFragments, FragmentProblem, NewEvent } from '../catalog/index.js';
import type { FragmentSource } from '../kernels/index.js';
import { codeLayout, labelMatches, parsePolicy, type Policy } from '../pool/index.js';
import type { Engine } from './engine.js';
import { DirectorySync, readAt, removeFile } from './fragment-io.js';
import { fragmentHeaderOf, fragmentPath, headerLengthFor, hex64, parseHex64 } from '../format/index.js';
import { fragmentSources, lookupObject, readObject } from './reader.js';
import { chunkSource } from './sources.js';
import { bucketObjectKey, uploadIdOfPart } from './object-meta.js';
import { forEachLimited } from './limited.js';
import { putObject, writeExtentFragments, type ExtentIdentity, type PutResult } from './writer.js';

export type RepairOutcome = 'repaired' | 'healthy' | 'unrecoverable' | 'failed' | 'gone';

export interface RepairResult {
  outcome: RepairOutcome;
  rebuilt: number;
  bytesWritten: number;
  error?: string;
}

/** Fragments that need a new copy: known bad, on a failed or forgotten disk, or listed in `force`. */
function badIndices(engine: Engine, extent: ExtentWithFragments, force: ReadonlySet<number>): number[] {
  const bad: number[] = [];
  for (let index = 0; index < extent.width; index++) {
    const f = extent.fragments.find((x) => x.index === index);
    const disk = f ? engine.catalog.diskRef(f.diskId) : null;
    if (!f || !disk || disk.state === 'failed' || f.state !== 'ok' || force.has(index)) bad.push(index);
  }
  return bad;
}

export interface RepairOptions {
  /** Fragments to move even though they are good (drain). */
  force?: ReadonlySet<number>;
  /** Disks that must not receive a fragment. */
  avoid?: ReadonlySet<string>;
  /** What asked for the repair, for the journal (default: a manual command). */
  origin?: EventOrigin;
}

/**
 * Rebuilds an extent's bad fragments from verified ones (never from an
 * unverified copy), reads each new copy back and checks it, and commits the
 * new locations in one transaction with their `repair` events. A repair
 * that does not restore the extent is a `repair_failed` event per fragment.
 */
export function repairExtent(engine: Engine, extentId: string, options: RepairOptions = {}): Promise<RepairResult> {
  return engine.extentLocks.run(extentId, async () => {
    const started = performance.now();
    const origin = options.origin ?? { trigger: 'manual' };
    const result = await repairLocked(engine, extentId, options, origin, started);
    if (result.outcome === 'failed' || result.outcome === 'unrecoverable') recordRepairFailed(engine, extentId, options.force ?? new Set(), origin, result, started);
    return result;
  });
}

/** What every event about an extent says of it: its object's key (null for a pack), its id and sequence. */
function extentFields(engine: Engine, extent: ExtentWithFragments): Pick<NewEvent, 'key' | 'extent' | 'seq'> {
  const key = engine.catalog.pack(extent.id) ? null : engine.catalog.objectById(extent.objectId)?.key ?? null;
  return { key, extent: extent.id, seq: extent.seq };
}

function recordRepairFailed(engine: Engine, extentId: string, force: ReadonlySet<number>, origin: EventOrigin, result: RepairResult, started: number): void {
  const extent = engine.catalog.extent(extentId);
  if (!extent) return;
  const problems = new Map(engine.catalog.problemsOfExtent(extentId).map((p) => [p.index, p]));
  const events: NewEvent[] = badIndices(engine, extent, force).map((index) => {
    const f = extent.fragments.find((x) => x.index === index);
    const p = problems.get(index);
    return {
      type: 'repair_failed', trigger: origin.trigger, job: origin.job ?? null, ...extentFields(engine, extent), fragment: index, disk: f?.diskId ?? p?.diskId ?? null,
      kind: p?.kind ?? (force.has(index) ? null : 'missing'), expectedChecksum: f?.checksum ?? null, observedChecksum: p?.observedChecksum ?? null,
      durationMs: Math.round(performance.now() - started), result: result.outcome, reason: result.error ?? null,
    };
  });
  engine.catalog.recordEvents(events);
}

async function repairLocked(engine: Engine, extentId: string, options: RepairOptions, origin: EventOrigin, started: number): Promise<RepairResult> {
  const force = options.force ?? new Set<number>();
  for (let round = 0; round < 3; round++) {
    const extent = engine.catalog.extent(extentId);
    if (!extent) return { outcome: 'gone', rebuilt: 0, bytesWritten: 0 };
    let wanted = badIndices(engine, extent, force);
    if (wanted.length === 0) return { outcome: 'healthy', rebuilt: 0, bytesWritten: 0 };
    // Where the new copies can go: a bad fragment on a still-healthy disk is
    // rewritten in place; the others need disks that hold nothing of this extent.
    const keep = new Set(extent.fragments.filter((f) => !wanted.includes(f.index)).map((f) => f.diskId));
    const avoid = new Set([...keep, ...(options.avoid ?? [])]);
    const preferred = new Map<number, string>();
    for (const f of extent.fragments) {
      if (wanted.includes(f.index) && !force.has(f.index) && !avoid.has(f.diskId) && engine.catalog.diskRef(f.diskId)?.state === 'healthy') preferred.set(f.index, f.diskId);
    }
    let room = engine.disks.placementCandidates(new Set([...avoid, ...preferred.values()])).length + preferred.size;
    // Too few healthy disks: a bad fragment on a suspect disk is rewritten where it is rather than
    // left bad (a suspect disk takes no new data, but a copy there beats no copy).
    for (const f of extent.fragments) {
      if (room >= wanted.length) break;
      if (wanted.includes(f.index) && !force.has(f.index) && !preferred.has(f.index) && !avoid.has(f.diskId) && engine.catalog.diskRef(f.diskId)?.state === 'suspect') {
        preferred.set(f.index, f.diskId);
        room++;
      }
    }
    if (room === 0) return { outcome: 'failed', rebuilt: 0, bytesWritten: 0, error: `no healthy disk can take a fragment of this extent (${extent.policy}; ${keep.size} disks already hold its other fragments)` };
    // Too few disks for every bad fragment: rebuild as many as fit, those being moved off a disk first.
    if (room < wanted.length) wanted = [...wanted].sort((a, b) => Number(force.has(b)) - Number(force.has(a)) || Number(preferred.has(b)) - Number(preferred.has(a))).slice(0, room).sort((a, b) => a - b);
    const policy = parsePolicy(extent.policy);
    const sources = fragmentSources(engine, extent).map((s, i) => (wanted.includes(i) && !force.has(i) ? null : s));
    // The rebuilt fragments land in a lease of the engine's buffer arena, held until they are written.
    const lease = await engine.buffers.acquireOne(wanted.length * extent.fragmentLength);
    try {
      const step = await rebuildAndWrite(engine, extent, policy, sources, wanted, preferred, avoid, lease.bytes, { origin, force, started });
      if (step === 'again') continue;
      return step;
    } finally {
      lease.release();
    }
  }
  return { outcome: 'failed', rebuilt: 0, bytesWritten: 0, error: 'fragments kept failing verification' };
}

/** One round of a repair: rebuild `wanted` into `into`, write the copies, commit. 'again' when a source failed verification. */
async function rebuildAndWrite(
  engine: Engine, extent: ExtentWithFragments, policy: Policy, sources: (FragmentSource | null)[],
  wanted: number[], preferred: Map<number, string>, avoid: Set<string>, into: Uint8Array,
  context: { origin: EventOrigin; force: ReadonlySet<number>; started: number },
): Promise<RepairResult | 'again'> {
  const extentId = extent.id;
  let result;
  try {
    result = await engine.workers().reconstruct({ layout: codeLayout(policy), fragmentLength: extent.fragmentLength, fragments: sources, wanted, into });
  } catch (error) {
    if (isDfsError(error, 'DFS_ERR_KERNEL_TOO_FEW_FRAGMENTS')) {
      engine.catalog.recomputeExtent(extentId);
      return { outcome: 'unrecoverable', rebuilt: 0, bytesWritten: 0, error: (error as Error).message };
    }
    throw error;
  }
  // Sources that failed verification now: record them and go round again with them included.
  const newlyBad: FragmentProblem[] = [];
  result.fragments.forEach((o, index) => {
    if (sources[index] && o.status !== 'ok') newlyBad.push({ index, diskId: extent.fragments.find((f) => f.index === index)?.diskId ?? null, kind: o.status, observed: o.hash === null ? null : hex64(o.hash) });
  });
  if (newlyBad.length > 0) {
    engine.noteProblems(extentId, newlyBad, 'repair', 'queued', context.origin);
    return 'again';
  }
  // The verified fragments the copies were rebuilt from: every one read and checked (EC), or the replica copied.
  const used: EventSource[] = [];
  result.fragments.forEach((o, index) => {
    const f = extent.fragments.find((x) => x.index === index);
    if (!sources[index] || o.status !== 'ok' || !f || wanted.includes(index)) return;
    if (policy.kind === 'replication' && used.length > 0) return;
    used.push({ fragment: index, disk: f.diskId, checksum: o.hash === null ? f.checksum : hex64(o.hash) });
  });
  // A rebuilt fragment is the one the catalogue records, bit for bit: anything else is refused.
  for (const [j, index] of wanted.entries()) {
    const recorded = extent.fragments.find((f) => f.index === index)?.checksum;
    if (recorded !== undefined && recorded !== hex64(result.rebuiltHashes[j]!)) {
      return { outcome: 'failed', rebuilt: 0, bytesWritten: 0, error: `fragment ${index} rebuilt as ${hex64(result.rebuiltHashes[j]!)}, the catalogue records ${recorded}` };
    }
  }
  const identity = await extentIdentity(engine, extent, policy, used);
  if (!identity) return { outcome: 'gone', rebuilt: 0, bytesWritten: 0 };
  for (const index of [...preferred.keys()]) if (!wanted.includes(index)) preferred.delete(index);
  const length = extent.fragmentLength;
  const payloads = wanted.map((index, j) => ({ index, payload: result.rebuilt.subarray(j * length, (j + 1) * length), checksum: result.rebuiltHashes[j]! }));
  const dirs = new DirectorySync();
  const written: string[] = [];
  let placed;
  let readBack: Map<number, string>;
  try {
    placed = await writeExtentFragments(engine, identity, payloads, { exclude: avoid, preferred, dirs, written });
    await dirs.syncAll();
    readBack = await readBackChecksums(engine, extent, placed);
    const wrong = placed.find((p) => readBack.get(p.index) !== p.checksum);
    if (wrong) throw new Error(`fragment ${wrong.index} read back from ${wrong.diskId} as ${readBack.get(wrong.index) ?? 'nothing'}, written as ${wrong.checksum}`);
  } catch (error) {
    await Promise.all(written.filter((p) => !sameAsOld(engine, extent, p)).map(removeFile));
    return { outcome: 'failed', rebuilt: 0, bytesWritten: 0, error: (error as Error).message };
  }
  // The extent may have been deleted or rewritten while we worked: commit only if it is still there.
  if (!engine.catalog.extent(extentId)) {
    await Promise.all(written.map(removeFile));
    return { outcome: 'gone', rebuilt: 0, bytesWritten: 0 };
  }
  const problems = new Map(engine.catalog.problemsOfExtent(extentId).map((p) => [p.index, p]));
  const durationMs = Math.round(performance.now() - context.started);
  const { origin, force } = context;
  const events: NewEvent[] = placed.map((p) => {
    const old = extent.fragments.find((f) => f.index === p.index);
    const problem = problems.get(p.index);
    const moved = force.has(p.index) && !problem;
    return {
      type: 'repair', trigger: origin.trigger, job: origin.job ?? null, ...extentFields(engine, extent), fragment: p.index,
      disk: old?.diskId ?? problem?.diskId ?? null, toDisk: p.diskId,
      kind: moved ? null : problem?.kind ?? 'missing',
      expectedChecksum: old?.checksum ?? null, observedChecksum: problem?.observedChecksum ?? null, writtenChecksum: readBack.get(p.index) ?? null,
      sources: used, bytes: p.bytes, durationMs, result: moved ? 'moved' : 'repaired',
    };
  });
  engine.catalog.replaceFragments(extentId, placed, events);
  // Old copies that now live elsewhere are deleted (best effort; gc gets the rest).
  for (const p of placed) {
    const old = extent.fragments.find((f) => f.index === p.index);
    if (old && old.diskId !== p.diskId) {
      const path = engine.disks.fragmentFile(old.diskId, extentId, old.index);
      if (path) await removeFile(path);
    }
  }
  const bytesWritten = placed.reduce((n, p) => n + p.bytes, 0);
  return { outcome: 'repaired', rebuilt: placed.length, bytesWritten };
}

/** Each new copy read back from its disk: the checksum of its payload as it now lies there. */
async function readBackChecksums(engine: Engine, extent: ExtentWithFragments, placed: readonly { index: number; diskId: string }[]): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  const into = new Uint8Array(extent.fragmentLength);
  for (const p of placed) {
    const path = engine.disks.fragmentFile(p.diskId, extent.id, p.index);
    if (!path) continue;
    const got = await readAt(path, into, extent.payloadOffset);
    if (got === into.length) out.set(p.index, hex64(engine.hash(into)));
  }
  return out;
}

function sameAsOld(engine: Engine, extent: ExtentWithFragments, path: string): boolean {
  return extent.fragments.some((f) => engine.disks.fragmentFile(f.diskId, extent.id, f.index) === path);
}

export interface RebuildSummary {
  disksFailed: string[];
  fragmentsMissing: number;
  extentsNeedingRepair: number;
  extentsRepaired: number;
  fragmentsRebuilt: number;
  bytesWritten: number;
  unrecoverable: { key: string; extent: string; seq: number }[];
  failed: { key: string; extent: string; error: string }[];
  extents: { healthy: number; degraded: number; unrecoverable: number };
}

/**
 * What a rewritten fragment's header says of its extent: its object's, or, for a pack, the pack's own;
 * null when it is gone. `siblings`: fragments of the extent read and verified (a part's key is taken from one).
 */
async function extentIdentity(engine: Engine, extent: ExtentWithFragments, policy: Policy, siblings: readonly EventSource[]): Promise<ExtentIdentity | null> {
  const base = { poolId: engine.poolId, extentId: extent.id, policy, extentSize: extent.size, extentChecksum: parseHex64(extent.checksum), seq: extent.seq };
  const pack = engine.catalog.pack(extent.id);
  if (pack) return { ...base, objectId: extent.objectId, objectSize: extent.size, createdAt: pack.createdAt, last: true, key: '', pack: true };
  const object = engine.catalog.objectById(extent.objectId);
  if (!object) return null;
  const identity = { ...base, objectId: object.id, objectSize: object.size, createdAt: object.createdAt, last: extent.seq === object.extents - 1, key: object.key };
  if (uploadIdOfPart(object.key) === null) return identity;
  // A part of a multipart upload: its headers name the key of the upload's object and say they are a
  // part's (writer.ts, partOf), and the rewritten fragment must say the same: as a sibling's header does.
  for (const sibling of siblings) {
    const diskPath = engine.disks.path(sibling.disk);
    if (diskPath === null) continue;
    const bytes = new Uint8Array(extent.payloadOffset);
    const got = await readAt(fragmentPath(diskPath, extent.id, sibling.fragment), bytes, 0).catch(() => 0);
    const header = fragmentHeaderOf(bytes.subarray(0, got), engine.hash, { extentId: extent.id, index: sibling.fragment, length: extent.payloadOffset });
    if (header) return { ...identity, key: header.key, ...(header.part ? { part: true } : {}) };
  }
  // No sibling's header to go by: the upload's key, if the payload sits where a header of it ends.
  const upload = engine.catalog.upload(uploadIdOfPart(object.key)!);
  const key = upload ? bucketObjectKey(upload.bucket, upload.key) : null;
  if (key !== null && headerLengthFor(Buffer.byteLength(key, 'utf8')) === extent.payloadOffset) return { ...identity, key, part: true };
  return headerLengthFor(Buffer.byteLength(object.key, 'utf8')) === extent.payloadOffset ? identity : null;
}

/**
 * Finds disks that are gone (folder or label missing) and marks them failed,
 * finds fragment files that are missing, then rebuilds every fragment that
 * lives on a failed disk or is bad, onto healthy disks.
 */
export async function rebuild(engine: Engine, onProgress?: (done: number, total: number) => void): Promise<RebuildSummary> {
  const origin: EventOrigin = { trigger: 'rebuild', job: `rebuild-${Date.now().toString(36)}` };
  const disksFailed: string[] = [];
  for (const disk of engine.catalog.disks()) {
    if (disk.state === 'failed') continue;
    if (!labelMatches(disk.path, engine.poolId, disk.id)) {
      engine.catalog.setDiskState(disk.id, 'failed', { ...origin, reason: 'its folder or label is gone' });
      disksFailed.push(disk.id);
    }
  }
  let fragmentsMissing = 0;
  for (const extent of engine.catalog.iterateExtents()) {
    const missing: { index: number; diskId: string; kind: 'missing' }[] = [];
    await Promise.all(extent.fragments.map(async (f) => {
      const disk = engine.catalog.diskRef(f.diskId);
      if (!disk || disk.state === 'failed' || f.state !== 'ok') return;
      try {
        await access(fragmentPath(disk.path, extent.id, f.index));
      } catch {
        missing.push({ index: f.index, diskId: f.diskId, kind: 'missing' });
      }
    }));
    if (missing.length) {
      fragmentsMissing += missing.length;
      engine.noteProblems(extent.id, missing, 'rebuild', 'reported', origin);
    }
  }
  const targets = engine.catalog.extentIdsNeedingRebuild();
  const summary: RebuildSummary = {
    disksFailed, fragmentsMissing, extentsNeedingRepair: targets.length, extentsRepaired: 0, fragmentsRebuilt: 0, bytesWritten: 0,
    unrecoverable: [], failed: [], extents: { healthy: 0, degraded: 0, unrecoverable: 0 },
  };
  let done = 0;
  await forEachLimited(targets, 2, async (extentId) => {
    engine.rebuildStats.attempted++;
    const result = await repairExtent(engine, extentId, { origin });
    const extent = engine.catalog.extent(extentId);
    const key = extent ? engine.catalog.objectById(extent.objectId)?.key ?? '' : '';
    if (result.outcome === 'repaired') {
      engine.rebuildStats.successful++;
      engine.rebuildStats.bytesWritten += result.bytesWritten;
      summary.extentsRepaired++;
      summary.fragmentsRebuilt += result.rebuilt;
      summary.bytesWritten += result.bytesWritten;
    } else if (result.outcome === 'unrecoverable') {
      engine.rebuildStats.failed++;
      summary.unrecoverable.push({ key, extent: extentId, seq: extent?.seq ?? -1 });
    } else if (result.outcome === 'failed') {
      engine.rebuildStats.failed++;
      summary.failed.push({ key, extent: extentId, error: result.error ?? '' });
    } else engine.rebuildStats.successful++;
    onProgress?.(++done, targets.length);
  });
  const counts = engine.catalog.extentCounts();
  log('store').info({ disksFailed, needed: targets.length, repaired: summary.extentsRepaired, unrecoverable: summary.unrecoverable.length, failed: summary.failed.length }, 'rebuild finished');
  summary.extents = { healthy: counts.healthy, degraded: counts.degraded, unrecoverable: counts.unrecoverable };
  return summary;
}

export interface DrainSummary {
  disk: string;
  path: string;
  extentsMoved: number;
  fragmentsMoved: number;
  bytesWritten: number;
  removed: boolean;
  /** Things the operator should know, such as a pool left with too few disks for its default policy. */
  warnings: string[];
}

/** Moves every fragment off a disk onto other healthy disks, then removes the disk from the pool. */
export async function drainDisk(engine: Engine, ref: string, onProgress?: (done: number, total: number) => void): Promise<DrainSummary> {
  const disk = engine.disks.resolve(ref);
  // Every extent on the disk needs as many distinct disks without it: check before moving anything.
  const widest = engine.catalog.widestPolicyOnDisk(disk.id);
  const others = engine.disks.placementCandidates(new Set([disk.id])).length;
  if (widest && others < widest.width) {
    throw new DfsError('DFS_ERR_DISK_DRAIN_INCOMPLETE', `${disk.id} holds ${widest.policy} extents, which need ${widest.width} distinct disks; the pool has ${others} other healthy disk${others === 1 ? '' : 's'}. Add a disk first (add-disk), or change those objects' policy (change-policy); nothing was moved and ${disk.id} stays ${disk.state}`);
  }
  const previousState = disk.state;
  const origin: EventOrigin = { trigger: 'drain', job: `drain-${disk.id}-${Date.now().toString(36)}` };
  if (disk.state !== 'failed') engine.catalog.setDiskState(disk.id, 'draining', { ...origin, reason: 'remove-disk' });
  const extentIds = engine.catalog.extentIdsOnDisk(disk.id);
  const summary: DrainSummary = { disk: disk.id, path: disk.path, extentsMoved: 0, fragmentsMoved: 0, bytesWritten: 0, removed: false, warnings: [] };
  const problems: string[] = [];
  let done = 0;
  await forEachLimited(extentIds, 2, async (extentId) => {
    const extent = engine.catalog.extent(extentId);
    if (!extent) return;
    const force = new Set(extent.fragments.filter((f) => f.diskId === disk.id).map((f) => f.index));
    const result = await repairExtent(engine, extentId, { force, avoid: new Set([disk.id]), origin });
    if (result.outcome === 'repaired') {
      summary.extentsMoved++;
      summary.fragmentsMoved += result.rebuilt;
      summary.bytesWritten += result.bytesWritten;
    } else if (result.outcome !== 'gone' && result.outcome !== 'healthy') problems.push(`${extentId}: ${result.outcome}${result.error ? ` (${result.error})` : ''}`);
    onProgress?.(++done, extentIds.length);
  });
  if (problems.length > 0 || engine.catalog.extentIdsOnDisk(disk.id).length > 0) {
    // The disk stays, in the state it had: a disk left `draining` would keep the pool critical.
    if (engine.catalog.disk(disk.id)?.state === 'draining' && previousState !== 'draining') engine.catalog.setDiskState(disk.id, previousState, { ...origin, reason: 'the drain did not finish' });
    throw new DfsError('DFS_ERR_DISK_DRAIN_INCOMPLETE', `${problems.length} extents could not be moved off ${disk.id}; it stays in the pool (${engine.catalog.disk(disk.id)?.state ?? 'gone'})${problems.length ? `: ${problems.slice(0, 3).join('; ')}` : ''}`);
  }
  engine.disks.forget(disk.id);
  log('store').info({ disk: disk.id, path: disk.path, fragmentsMoved: summary.fragmentsMoved }, 'disk drained and removed');
  summary.removed = true;
  const shortfall = engine.defaultPolicyShortfall();
  if (shortfall) summary.warnings.push(shortfall);
  return summary;
}

/**
 * Re-encodes an object under another policy: its verified bytes are streamed
 * into a new version, swapped in atomically (only if the object was not
 * changed meanwhile); the old extents stay readable until the swap.
 */
export async function changeObjectPolicy(engine: Engine, key: string, policy: Policy, onProgress?: (done: number, total: number | null) => void): Promise<PutResult & { previousPolicy: string }> {
  const started = performance.now();
  const object = lookupObject(engine, key);
  const meta = engine.catalog.objectMeta(object.id);
  const result = await putObject(engine, chunkSource(readObject(engine, object), object.size), key, {
    policy, expectReplace: object.id, createdAt: object.createdAt, ...(onProgress ? { onProgress } : {}), ...(meta !== null ? { meta } : {}),
  });
  engine.catalog.recordEvents([{
    type: 'rewrite', trigger: 'change-policy', key, bytes: result.size, durationMs: Math.round(performance.now() - started),
    result: 'rewritten', reason: `${object.policy} → ${result.policy}`, expectedChecksum: object.checksum, writtenChecksum: result.checksum,
  }]);
  return { ...result, previousPolicy: object.policy };
}
