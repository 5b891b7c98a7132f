// Numeric status codes returned by every exported kernel. Kernels never throw
// and never allocate; src/kernels/ is the only place that turns these numbers
// into typed DFS_ERR_* errors (see src/kernels/status.ts, which mirrors this).

export const OK: i32 = 0;
/** K (data fragments) is outside 1..32. */
export const ERR_K_RANGE: i32 = 1;
/** M (parity fragments) is outside 1..16. */
export const ERR_M_RANGE: i32 = 2;
/** Fewer than K fragments are present, so nothing can be reconstructed. */
export const ERR_TOO_FEW_FRAGMENTS: i32 = 3;
/** The decode sub-matrix is not invertible (cannot happen for a Cauchy code; a guard, not a path). */
export const ERR_SINGULAR_MATRIX: i32 = 4;
/** A length or pointer is not a multiple of 16 bytes where the SIMD loops need it. */
export const ERR_ALIGNMENT: i32 = 5;
/** A buffer reaches beyond the end of linear memory. */
export const ERR_BOUNDS: i32 = 6;

export const MAX_K: i32 = 32;
export const MAX_M: i32 = 16;
export const MAX_FRAGMENTS: i32 = MAX_K + MAX_M;
