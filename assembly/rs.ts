// Reed-Solomon encode and reconstruct over fragments laid out contiguously:
// fragment i (data 0..K-1, then parity K..K+M-1) starts at base + i*stride.
// stride is a multiple of 16 and the caller zero-fills each fragment's
// padding, so the SIMD loops need no tail handling (RS is linear: zero
// padding in gives zero padding out).
import { cauchy, invertGeneratorRows } from './matrix';
import { COEF, IN_PTRS, OUT_PTRS, mulRows } from './mulrows';
import { gfMul } from './gf256';
import {
  ERR_ALIGNMENT, ERR_BOUNDS, ERR_K_RANGE, ERR_M_RANGE, ERR_TOO_FEW_FRAGMENTS,
  MAX_K, MAX_M, OK,
} from './status';

const SELECTED: usize = memory.data(MAX_K, 16);
const MISSING: usize = memory.data(MAX_M + MAX_K, 16);
const INVERSE: usize = memory.data(MAX_K * MAX_K, 16);

/** Checks K, M and that the K+M fragments fit in memory, aligned. */
export function checkLayout(k: i32, m: i32, base: usize, stride: usize): i32 {
  if (k < 1 || k > MAX_K) return ERR_K_RANGE;
  if (m < 1 || m > MAX_M) return ERR_M_RANGE;
  if ((stride & 15) != 0 || (base & 15) != 0) return ERR_ALIGNMENT;
  const end = <u64>base + <u64>(k + m) * <u64>stride;
  if (end > (<u64>memory.size() << 16)) return ERR_BOUNDS;
  return OK;
}

/** Computes the M parity fragments from the K data fragments. */
export function encode(k: i32, m: i32, base: usize, stride: usize): i32 {
  const status = checkLayout(k, m, base, stride);
  if (status != OK) return status;
  for (let j = 0; j < k; j++) store<u32>(IN_PTRS + (<usize>j << 2), <u32>(base + <usize>j * stride));
  for (let r = 0; r < m; r++) {
    store<u32>(OUT_PTRS + (<usize>r << 2), <u32>(base + <usize>(k + r) * stride));
    for (let j = 0; j < k; j++) store<u8>(COEF + <usize>(r * k + j), cauchy(k, r, j));
  }
  mulRows(k, m, 0, stride);
  return OK;
}

/**
 * Rebuilds, in place, every fragment whose byte in `present` (K+M bytes, 1 =
 * present and verified) is 0. Uses the first K present fragments.
 */
export function reconstruct(k: i32, m: i32, base: usize, stride: usize, present: usize): i32 {
  const status = checkLayout(k, m, base, stride);
  if (status != OK) return status;
  const n = k + m;
  let selected = 0;
  let missing = 0;
  for (let i = 0; i < n; i++) {
    if (load<u8>(present + <usize>i) != 0) {
      if (selected < k) {
        store<u8>(SELECTED + <usize>selected, <u8>i);
        selected++;
      }
    } else {
      store<u8>(MISSING + <usize>missing, <u8>i);
      missing++;
    }
  }
  if (selected < k) return ERR_TOO_FEW_FRAGMENTS;
  if (missing == 0) return OK;
  const inverted = invertGeneratorRows(k, SELECTED, INVERSE);
  if (inverted != OK) return inverted;
  for (let j = 0; j < k; j++) {
    store<u32>(IN_PTRS + (<usize>j << 2), <u32>(base + <usize>load<u8>(SELECTED + <usize>j) * stride));
  }
  for (let r = 0; r < missing; r++) {
    const index = <i32>load<u8>(MISSING + <usize>r);
    store<u32>(OUT_PTRS + (<usize>r << 2), <u32>(base + <usize>index * stride));
    const row = COEF + <usize>(r * k);
    if (index < k) {
      // A data fragment: its row of the inverse maps the selected fragments to it.
      for (let j = 0; j < k; j++) store<u8>(row + j, load<u8>(INVERSE + <usize>(index * k + j)));
    } else {
      // A parity fragment: its Cauchy row times the inverse, so it is computed
      // straight from the selected fragments in the same pass.
      for (let j = 0; j < k; j++) {
        let c: u8 = 0;
        for (let l = 0; l < k; l++) {
          c ^= gfMul(<u32>cauchy(k, index - k, l), <u32>load<u8>(INVERSE + <usize>(l * k + j)));
        }
        store<u8>(row + j, c);
      }
    }
  }
  mulRows(k, missing, 0, stride);
  return OK;
}

/** Points OUT_PTRS/COEF at the Cauchy rows with outputs in `scratch` (stride `scratchStride`), shifted so that out + off lands in scratch for off in [start, ...). */
export function prepareParityCheck(k: i32, m: i32, base: usize, stride: usize, scratch: usize, scratchStride: usize, start: usize): void {
  for (let j = 0; j < k; j++) store<u32>(IN_PTRS + (<usize>j << 2), <u32>(base + <usize>j * stride));
  for (let r = 0; r < m; r++) {
    store<u32>(OUT_PTRS + (<usize>r << 2), <u32>(scratch + <usize>r * scratchStride - start));
    for (let j = 0; j < k; j++) store<u8>(COEF + <usize>(r * k + j), cauchy(k, r, j));
  }
}
