// Coefficient matrices of the systematic Reed-Solomon code.
//
// Generator (K+M) x K: the identity on top (data fragments are the plain
// bytes) and a Cauchy matrix below, C[r][j] = 1 / (x_r + y_j) with
// x_r = K + r and y_j = j. Every square sub-matrix of a Cauchy matrix is
// invertible, so any K of the K+M fragments determine the data (MDS).
// This choice is part of the on-disk format.
import { gfInv, gfMul } from './gf256';
import { ERR_SINGULAR_MATRIX, MAX_K, OK } from './status';

/** Cauchy coefficient for parity row r (0-based) and data column j. */
// @ts-ignore: decorator
@inline
export function cauchy(k: i32, r: i32, j: i32): u8 {
  return gfInv(<u32>((k + r) ^ j));
}

// Augmented matrix for Gauss-Jordan elimination: K rows of [A | I], 2*MAX_K wide.
const AUG_STRIDE: usize = 2 * MAX_K;
const AUG: usize = memory.data(MAX_K * 2 * MAX_K, 16);

/**
 * Inverts the K x K matrix whose rows are the generator rows `rows[0..k)`
 * (u8 fragment indices) and writes it row-major (stride k) to `out`.
 */
export function invertGeneratorRows(k: i32, rows: usize, out: usize): i32 {
  for (let i = 0; i < k; i++) {
    const index = <i32>load<u8>(rows + i);
    const row = AUG + <usize>i * AUG_STRIDE;
    for (let j = 0; j < k; j++) {
      let value: u8 = 0;
      if (index < k) value = index == j ? 1 : 0;
      else value = cauchy(k, index - k, j);
      store<u8>(row + j, value);
      store<u8>(row + k + j, i == j ? 1 : 0);
    }
  }
  const width = 2 * k;
  for (let col = 0; col < k; col++) {
    let pivot = col;
    while (pivot < k && load<u8>(AUG + <usize>pivot * AUG_STRIDE + col) == 0) pivot++;
    if (pivot == k) return ERR_SINGULAR_MATRIX;
    const colRow = AUG + <usize>col * AUG_STRIDE;
    if (pivot != col) {
      const pivotRow = AUG + <usize>pivot * AUG_STRIDE;
      for (let j = 0; j < width; j++) {
        const t = load<u8>(colRow + j);
        store<u8>(colRow + j, load<u8>(pivotRow + j));
        store<u8>(pivotRow + j, t);
      }
    }
    const scale = <u32>gfInv(<u32>load<u8>(colRow + col));
    for (let j = 0; j < width; j++) store<u8>(colRow + j, gfMul(scale, <u32>load<u8>(colRow + j)));
    for (let i = 0; i < k; i++) {
      if (i == col) continue;
      const row = AUG + <usize>i * AUG_STRIDE;
      const factor = <u32>load<u8>(row + col);
      if (factor == 0) continue;
      for (let j = 0; j < width; j++) {
        store<u8>(row + j, load<u8>(row + j) ^ gfMul(factor, <u32>load<u8>(colRow + j)));
      }
    }
  }
  for (let i = 0; i < k; i++) {
    const row = AUG + <usize>i * AUG_STRIDE;
    for (let j = 0; j < k; j++) store<u8>(out + <usize>(i * k + j), load<u8>(row + k + j));
  }
  return OK;
}
