// Redundancy policies: `replication:N` (N full copies) or `ec:K+M` (Reed-Solomon,
// any K of K+M fragments rebuild the extent). Parsed once, carried as data.
import { DfsError } from '../errors.js';

export const MAX_COPIES = 8;
/** The code's limits: data fragments K and parity fragments M of ec:K+M (the kernels are built for these). */
export const MAX_K = 32;
export const MAX_M = 16;

/** How an extent is laid out in fragments, as the kernels see it. */
export type CodeLayout = { kind: 'ec'; k: number; m: number } | { kind: 'replication'; copies: number };

export type Policy = { kind: 'replication'; copies: number } | { kind: 'ec'; k: number; m: number };

export function parsePolicy(text: unknown): Policy {
  if (typeof text !== 'string') throw new DfsError('DFS_ERR_POLICY_INVALID', `got ${JSON.stringify(text)}`);
  const rep = /^replication:(\d{1,3})$/.exec(text.trim());
  if (rep) {
    const copies = Number(rep[1]);
    if (copies >= 1 && copies <= MAX_COPIES) return { kind: 'replication', copies };
    throw new DfsError('DFS_ERR_POLICY_INVALID', `"${text}": replication needs 1..${MAX_COPIES} copies`);
  }
  const ec = /^ec:(\d{1,3})\+(\d{1,3})$/.exec(text.trim());
  if (ec) {
    const k = Number(ec[1]);
    const m = Number(ec[2]);
    if (k >= 1 && k <= MAX_K && m >= 1 && m <= MAX_M) return { kind: 'ec', k, m };
    throw new DfsError('DFS_ERR_POLICY_INVALID', `"${text}": K must be 1..${MAX_K} and M 1..${MAX_M}`);
  }
  throw new DfsError('DFS_ERR_POLICY_INVALID', `"${text.slice(0, 64)}"`);
}

export function formatPolicy(policy: Policy): string {
  return policy.kind === 'replication' ? `replication:${policy.copies}` : `ec:${policy.k}+${policy.m}`;
}

/** Fragments per extent. */
export function policyWidth(policy: Policy): number {
  return policy.kind === 'replication' ? policy.copies : policy.k + policy.m;
}

/** Good fragments needed to read an extent. */
export function policyNeed(policy: Policy): number {
  return policy.kind === 'replication' ? 1 : policy.k;
}

/** Disks that may fail with every extent still readable. */
export function policyTolerance(policy: Policy): number {
  return policyWidth(policy) - policyNeed(policy);
}

export function codeLayout(policy: Policy): CodeLayout {
  return policy.kind === 'replication' ? { kind: 'replication', copies: policy.copies } : { kind: 'ec', k: policy.k, m: policy.m };
}

/** Payload bytes of each fragment of an extent of `size` bytes. */
export function fragmentPayloadLength(policy: Policy, size: number): number {
  return policy.kind === 'replication' ? size : ecFragmentLength(size, policy.k);
}

/** Bytes of each of the K data fragments of `size` bytes: a K-th, rounded up to 16 (the SIMD loops' stride). */
export function ecFragmentLength(size: number, k: number): number {
  return ((Math.ceil(size / k) + 15) & ~15) >>> 0;
}
