// A batch of extents checked in the worker pool as one packed page (see
// ScrubPageTask): typed arrays of shapes, disk slots and expected checksums,
// one status per fragment back. Each result keeps the catalogue rows it was
// checked against (the snapshot), so the pass can tell a bad fragment from one
// rewritten while it was read.
import type { ExtentWithFragments, FragmentRow } from '../catalog/index.js';
import { SCRUB_STATUSES, gateIndexOf, type ScrubOutcome } from '../kernels/index.js';
import type { Engine } from '../store/index.js';
import { parseHex64 } from '../store/index.js';

export interface Checked {
  extent: ExtentWithFragments;
  /** The fragment rows as they were when the check was sent, by index. */
  snapshot: (FragmentRow | null)[];
  /** One outcome per fragment index, or null when the check itself failed. */
  outcomes: ScrubOutcome[] | null;
  error?: string;
}

/**
 * Checks a batch as one page, or (`oneByOne`) as one page per extent, each
 * sent when the one before has finished, so that a client's read waits behind
 * at most one extent's check, not the whole batch's. `light`: presence, size
 * and header only (no payload read). `direct`: fragments read past the
 * page cache (see Pacing.direct).
 */
export async function checkBatch(engine: Engine, extents: ExtentWithFragments[], options: { oneByOne: boolean; light?: boolean; direct?: boolean }): Promise<Checked[]> {
  const { oneByOne, light = false, direct = false } = options;
  const diskPaths: string[] = [];
  const diskGates: number[] = [];
  const diskSlots = new Map<string, number>();
  const slotOf = (diskId: string): number => {
    let slot = diskSlots.get(diskId);
    if (slot === undefined) {
      const disk = engine.catalog.diskRef(diskId);
      slot = !disk || disk.state === 'failed' ? -1 : diskPaths.push(disk.path) - 1; // a failed disk's fragments count as missing
      if (slot >= 0) diskGates.push(gateIndexOf(diskId));
      diskSlots.set(diskId, slot);
    }
    return slot;
  };
  const pageOf = (list: ExtentWithFragments[]) => {
    const fragments = list.reduce((n, e) => n + e.width, 0);
    const page = { poolId: engine.poolId, light, direct, diskPaths, diskGates, extentIds: list.map((e) => e.id), shape: new Uint32Array(list.length * 3), disks: new Int32Array(fragments).fill(-1), expected: new BigUint64Array(fragments) };
    const snapshots: (FragmentRow | null)[][] = [];
    let at = 0;
    list.forEach((extent, e) => {
      page.shape.set([extent.fragmentLength, extent.payloadOffset, extent.width], e * 3);
      const snapshot: (FragmentRow | null)[] = new Array<FragmentRow | null>(extent.width).fill(null);
      for (const f of extent.fragments) {
        if (f.index >= extent.width) continue;
        snapshot[f.index] = f;
        page.disks[at + f.index] = slotOf(f.diskId);
        page.expected[at + f.index] = parseHex64(f.checksum);
      }
      snapshots.push(snapshot);
      at += extent.width;
    });
    return { page, snapshots };
  };
  const check = async (list: ExtentWithFragments[]): Promise<Checked[]> => {
    const { page, snapshots } = pageOf(list);
    const result = await engine.pools.background().scrubPage(page);
    const failed = new Map(result.errors);
    const errnos = new Map(result.errnos);
    const observed = new Map(result.observed);
    let at = 0;
    return list.map((extent, e) => {
      const first = at;
      at += extent.width;
      const error = failed.get(e);
      if (error) return { extent, snapshot: snapshots[e]!, outcomes: null, error: error.message };
      const outcomes: ScrubOutcome[] = [];
      for (let i = first; i < at; i++) {
        const outcome: ScrubOutcome = { status: SCRUB_STATUSES[result.status[i]!]!, bytes: result.bytes[i]! };
        const errno = errnos.get(i);
        if (errno) outcome.errno = errno;
        const hash = observed.get(i);
        if (hash !== undefined) outcome.hash = hash;
        outcomes.push(outcome);
      }
      return { extent, snapshot: snapshots[e]!, outcomes };
    });
  };
  if (!oneByOne) return check(extents);
  const checked: Checked[] = [];
  for (const extent of extents) checked.push(...(await check([extent])));
  return checked;
}
