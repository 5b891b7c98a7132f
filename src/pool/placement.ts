// Placement: an extent's fragments go to distinct healthy disks, chosen at
// random with probability proportional to free space (Efraimidis–Spirakis
// weighted sampling without replacement), so full disks fill last.
import { DfsError } from '../errors.js';

export interface PlacementCandidate {
  id: string;
  freeBytes: number;
}

export function chooseDisks(candidates: readonly PlacementCandidate[], count: number, policyName: string, exclude: ReadonlySet<string> = new Set()): string[] {
  const usable = candidates.filter((c) => !exclude.has(c.id));
  if (usable.length < count) {
    throw new DfsError(
      'DFS_ERR_POLICY_UNSATISFIABLE',
      exclude.size
        ? `${policyName} needs ${count} more distinct healthy disk${count === 1 ? '' : 's'} besides the ${exclude.size} already holding this extent; ${usable.length} available`
        : `${policyName} needs ${count} distinct healthy disks, the pool has ${usable.length}`,
      { details: { policy: policyName, needed: count, healthy: usable.length } },
    );
  }
  return usable
    .map((c) => ({ id: c.id, key: Math.log(Math.random() || Number.MIN_VALUE) / Math.max(c.freeBytes, 1) }))
    .sort((a, b) => b.key - a.key)
    .slice(0, count)
    .map((c) => c.id);
}
