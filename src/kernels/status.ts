// Mirrors assembly/status.ts: the numbers kernels return, and the one place
// they become typed errors.
import { DfsError, type ErrorCode } from '../errors.js';
import { MAX_K, MAX_M } from '../pool/index.js';

export const KERNEL_OK = 0;
export { MAX_K, MAX_M };

export const STATUS_CODES: Readonly<Record<number, ErrorCode>> = {
  1: 'DFS_ERR_KERNEL_K_RANGE',
  2: 'DFS_ERR_KERNEL_M_RANGE',
  3: 'DFS_ERR_KERNEL_TOO_FEW_FRAGMENTS',
  4: 'DFS_ERR_KERNEL_SINGULAR_MATRIX',
  5: 'DFS_ERR_KERNEL_ALIGNMENT',
  6: 'DFS_ERR_KERNEL_BOUNDS',
};

/** Throws the DfsError for a non-zero kernel status. */
export function checkStatus(status: number, context: string): void {
  if (status === KERNEL_OK) return;
  const code = STATUS_CODES[status] ?? 'DFS_ERR_INTERNAL_UNEXPECTED';
  throw new DfsError(code, `${context} (kernel status ${status})`);
}

/** Range checks done before any memory is reserved, with the kernel's codes. */
export function checkCodeShape(k: number, m: number): void {
  if (!Number.isInteger(k) || k < 1 || k > MAX_K) throw new DfsError('DFS_ERR_KERNEL_K_RANGE', `got ${String(k)}`);
  if (!Number.isInteger(m) || m < 1 || m > MAX_M) throw new DfsError('DFS_ERR_KERNEL_M_RANGE', `got ${String(m)}`);
}
