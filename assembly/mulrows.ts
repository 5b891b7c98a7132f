// The one hot loop of Reed-Solomon: out[r] = XOR_j coef[r][j] * in[j] over a
// byte range, for nIn sources and nOut outputs. Encode, reconstruct and deep
// verify all reduce to it with different coefficient rows.
//
// SIMD: split-nibble multiply. For a coefficient c, c*x = T_lo[x & 15] ^
// T_hi[x >> 4] with two 16-byte tables, so one swizzle per nibble multiplies
// 16 bytes at once. Outputs are taken in groups of four whose accumulators
// stay in registers; each 16-byte source vector is loaded and split into
// nibbles once and then used for every output of the group. With M <= 4
// (4+2, 6+3, 10+4) that is once for all parity rows; above four outputs the
// x86 register file (16 xmm) would spill, so sources are re-read per group of
// four (from L1 — the group loops over the same 16-byte column).
//
// Scalar: a 64 KiB c*x product table, one lookup per byte.
import { MUL, NIB } from './gf256';
import { MAX_FRAGMENTS, MAX_K } from './status';

/** u32 pointers of the sources, set by the caller before mulRows. */
export const IN_PTRS: usize = memory.data(MAX_FRAGMENTS * 4, 16);
/** u32 pointers of the outputs. */
export const OUT_PTRS: usize = memory.data(MAX_FRAGMENTS * 4, 16);
/** nOut rows of nIn coefficient bytes. */
export const COEF: usize = memory.data(MAX_FRAGMENTS * MAX_K, 16);
// Nibble tables of one group laid out in loop order: [source][row][lo 16 B | hi 16 B].
const GROUP_TABLES: usize = memory.data(MAX_K * 4 * 32, 16);

// @ts-ignore: decorator
@inline
function swz(table: v128, index: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(table, index);
  return v128.swizzle(table, index);
}

// @ts-ignore: decorator
@inline
function product(t: usize, lo: v128, hi: v128): v128 {
  return v128.xor(swz(v128.load(t), lo), swz(v128.load(t, 16), hi));
}

function prepareGroup(nIn: i32, firstRow: i32, rows: i32): void {
  let dst = GROUP_TABLES;
  for (let j = 0; j < nIn; j++) {
    for (let r = 0; r < rows; r++) {
      const c = <usize>load<u8>(COEF + <usize>((firstRow + r) * nIn + j));
      const src = NIB + (c << 5);
      v128.store(dst, v128.load(src));
      v128.store(dst, v128.load(src, 16), 16);
      dst += 32;
    }
  }
}

function group4(nIn: i32, outs: usize, start: usize, end: usize): void {
  const o0 = <usize>load<u32>(outs, 0);
  const o1 = <usize>load<u32>(outs, 4);
  const o2 = <usize>load<u32>(outs, 8);
  const o3 = <usize>load<u32>(outs, 12);
  const mask = i8x16.splat(0x0f);
  let off = start;
  // Two columns per iteration: each table is loaded once for 32 bytes.
  for (; off + 32 <= end; off += 32) {
    let a0 = i8x16.splat(0);
    let a1 = a0;
    let a2 = a0;
    let a3 = a0;
    let b0 = a0;
    let b1 = a0;
    let b2 = a0;
    let b3 = a0;
    let t = GROUP_TABLES;
    for (let j = 0; j < nIn; j++) {
      const src = <usize>load<u32>(IN_PTRS + (<usize>j << 2)) + off;
      const v = v128.load(src);
      const w = v128.load(src, 16);
      const vlo = v128.and(v, mask);
      const vhi = v128.and(i16x8.shr_u(v, 4), mask);
      const wlo = v128.and(w, mask);
      const whi = v128.and(i16x8.shr_u(w, 4), mask);
      const t0lo = v128.load(t, 0);
      const t0hi = v128.load(t, 16);
      a0 = v128.xor(a0, v128.xor(swz(t0lo, vlo), swz(t0hi, vhi)));
      b0 = v128.xor(b0, v128.xor(swz(t0lo, wlo), swz(t0hi, whi)));
      const t1lo = v128.load(t, 32);
      const t1hi = v128.load(t, 48);
      a1 = v128.xor(a1, v128.xor(swz(t1lo, vlo), swz(t1hi, vhi)));
      b1 = v128.xor(b1, v128.xor(swz(t1lo, wlo), swz(t1hi, whi)));
      const t2lo = v128.load(t, 64);
      const t2hi = v128.load(t, 80);
      a2 = v128.xor(a2, v128.xor(swz(t2lo, vlo), swz(t2hi, vhi)));
      b2 = v128.xor(b2, v128.xor(swz(t2lo, wlo), swz(t2hi, whi)));
      const t3lo = v128.load(t, 96);
      const t3hi = v128.load(t, 112);
      a3 = v128.xor(a3, v128.xor(swz(t3lo, vlo), swz(t3hi, vhi)));
      b3 = v128.xor(b3, v128.xor(swz(t3lo, wlo), swz(t3hi, whi)));
      t += 128;
    }
    v128.store(o0 + off, a0);
    v128.store(o0 + off, b0, 16);
    v128.store(o1 + off, a1);
    v128.store(o1 + off, b1, 16);
    v128.store(o2 + off, a2);
    v128.store(o2 + off, b2, 16);
    v128.store(o3 + off, a3);
    v128.store(o3 + off, b3, 16);
  }
  for (; off < end; off += 16) {
    let a0 = i8x16.splat(0);
    let a1 = a0;
    let a2 = a0;
    let a3 = a0;
    let t = GROUP_TABLES;
    for (let j = 0; j < nIn; j++) {
      const v = v128.load(<usize>load<u32>(IN_PTRS + (<usize>j << 2)) + off);
      const lo = v128.and(v, mask);
      const hi = v128.and(i16x8.shr_u(v, 4), mask);
      a0 = v128.xor(a0, product(t + 0, lo, hi));
      a1 = v128.xor(a1, product(t + 32, lo, hi));
      a2 = v128.xor(a2, product(t + 64, lo, hi));
      a3 = v128.xor(a3, product(t + 96, lo, hi));
      t += 128;
    }
    v128.store(o0 + off, a0);
    v128.store(o1 + off, a1);
    v128.store(o2 + off, a2);
    v128.store(o3 + off, a3);
  }
}

function group3(nIn: i32, outs: usize, start: usize, end: usize): void {
  const o0 = <usize>load<u32>(outs, 0);
  const o1 = <usize>load<u32>(outs, 4);
  const o2 = <usize>load<u32>(outs, 8);
  const mask = i8x16.splat(0x0f);
  let off = start;
  // Two columns per iteration: each table is loaded once for 32 bytes.
  for (; off + 32 <= end; off += 32) {
    let a0 = i8x16.splat(0);
    let a1 = a0;
    let a2 = a0;
    let b0 = a0;
    let b1 = a0;
    let b2 = a0;
    let t = GROUP_TABLES;
    for (let j = 0; j < nIn; j++) {
      const src = <usize>load<u32>(IN_PTRS + (<usize>j << 2)) + off;
      const v = v128.load(src);
      const w = v128.load(src, 16);
      const vlo = v128.and(v, mask);
      const vhi = v128.and(i16x8.shr_u(v, 4), mask);
      const wlo = v128.and(w, mask);
      const whi = v128.and(i16x8.shr_u(w, 4), mask);
      const t0lo = v128.load(t, 0);
      const t0hi = v128.load(t, 16);
      a0 = v128.xor(a0, v128.xor(swz(t0lo, vlo), swz(t0hi, vhi)));
      b0 = v128.xor(b0, v128.xor(swz(t0lo, wlo), swz(t0hi, whi)));
      const t1lo = v128.load(t, 32);
      const t1hi = v128.load(t, 48);
      a1 = v128.xor(a1, v128.xor(swz(t1lo, vlo), swz(t1hi, vhi)));
      b1 = v128.xor(b1, v128.xor(swz(t1lo, wlo), swz(t1hi, whi)));
      const t2lo = v128.load(t, 64);
      const t2hi = v128.load(t, 80);
      a2 = v128.xor(a2, v128.xor(swz(t2lo, vlo), swz(t2hi, vhi)));
      b2 = v128.xor(b2, v128.xor(swz(t2lo, wlo), swz(t2hi, whi)));
      t += 96;
    }
    v128.store(o0 + off, a0);
    v128.store(o0 + off, b0, 16);
    v128.store(o1 + off, a1);
    v128.store(o1 + off, b1, 16);
    v128.store(o2 + off, a2);
    v128.store(o2 + off, b2, 16);
  }
  for (; off < end; off += 16) {
    let a0 = i8x16.splat(0);
    let a1 = a0;
    let a2 = a0;
    let t = GROUP_TABLES;
    for (let j = 0; j < nIn; j++) {
      const v = v128.load(<usize>load<u32>(IN_PTRS + (<usize>j << 2)) + off);
      const lo = v128.and(v, mask);
      const hi = v128.and(i16x8.shr_u(v, 4), mask);
      a0 = v128.xor(a0, product(t + 0, lo, hi));
      a1 = v128.xor(a1, product(t + 32, lo, hi));
      a2 = v128.xor(a2, product(t + 64, lo, hi));
      t += 96;
    }
    v128.store(o0 + off, a0);
    v128.store(o1 + off, a1);
    v128.store(o2 + off, a2);
  }
}

function group2(nIn: i32, outs: usize, start: usize, end: usize): void {
  const o0 = <usize>load<u32>(outs, 0);
  const o1 = <usize>load<u32>(outs, 4);
  const mask = i8x16.splat(0x0f);
  let off = start;
  // Two columns per iteration: each table is loaded once for 32 bytes.
  for (; off + 32 <= end; off += 32) {
    let a0 = i8x16.splat(0);
    let a1 = a0;
    let b0 = a0;
    let b1 = a0;
    let t = GROUP_TABLES;
    for (let j = 0; j < nIn; j++) {
      const src = <usize>load<u32>(IN_PTRS + (<usize>j << 2)) + off;
      const v = v128.load(src);
      const w = v128.load(src, 16);
      const vlo = v128.and(v, mask);
      const vhi = v128.and(i16x8.shr_u(v, 4), mask);
      const wlo = v128.and(w, mask);
      const whi = v128.and(i16x8.shr_u(w, 4), mask);
      const t0lo = v128.load(t, 0);
      const t0hi = v128.load(t, 16);
      a0 = v128.xor(a0, v128.xor(swz(t0lo, vlo), swz(t0hi, vhi)));
      b0 = v128.xor(b0, v128.xor(swz(t0lo, wlo), swz(t0hi, whi)));
      const t1lo = v128.load(t, 32);
      const t1hi = v128.load(t, 48);
      a1 = v128.xor(a1, v128.xor(swz(t1lo, vlo), swz(t1hi, vhi)));
      b1 = v128.xor(b1, v128.xor(swz(t1lo, wlo), swz(t1hi, whi)));
      t += 64;
    }
    v128.store(o0 + off, a0);
    v128.store(o0 + off, b0, 16);
    v128.store(o1 + off, a1);
    v128.store(o1 + off, b1, 16);
  }
  for (; off < end; off += 16) {
    let a0 = i8x16.splat(0);
    let a1 = a0;
    let t = GROUP_TABLES;
    for (let j = 0; j < nIn; j++) {
      const v = v128.load(<usize>load<u32>(IN_PTRS + (<usize>j << 2)) + off);
      const lo = v128.and(v, mask);
      const hi = v128.and(i16x8.shr_u(v, 4), mask);
      a0 = v128.xor(a0, product(t + 0, lo, hi));
      a1 = v128.xor(a1, product(t + 32, lo, hi));
      t += 64;
    }
    v128.store(o0 + off, a0);
    v128.store(o1 + off, a1);
  }
}

function group1(nIn: i32, outs: usize, start: usize, end: usize): void {
  const o0 = <usize>load<u32>(outs, 0);
  const mask = i8x16.splat(0x0f);
  let off = start;
  // Two columns per iteration: each table is loaded once for 32 bytes.
  for (; off + 32 <= end; off += 32) {
    let a0 = i8x16.splat(0);
    let b0 = a0;
    let t = GROUP_TABLES;
    for (let j = 0; j < nIn; j++) {
      const src = <usize>load<u32>(IN_PTRS + (<usize>j << 2)) + off;
      const v = v128.load(src);
      const w = v128.load(src, 16);
      const vlo = v128.and(v, mask);
      const vhi = v128.and(i16x8.shr_u(v, 4), mask);
      const wlo = v128.and(w, mask);
      const whi = v128.and(i16x8.shr_u(w, 4), mask);
      const t0lo = v128.load(t, 0);
      const t0hi = v128.load(t, 16);
      a0 = v128.xor(a0, v128.xor(swz(t0lo, vlo), swz(t0hi, vhi)));
      b0 = v128.xor(b0, v128.xor(swz(t0lo, wlo), swz(t0hi, whi)));
      t += 32;
    }
    v128.store(o0 + off, a0);
    v128.store(o0 + off, b0, 16);
  }
  for (; off < end; off += 16) {
    let a0 = i8x16.splat(0);
    let t = GROUP_TABLES;
    for (let j = 0; j < nIn; j++) {
      const v = v128.load(<usize>load<u32>(IN_PTRS + (<usize>j << 2)) + off);
      const lo = v128.and(v, mask);
      const hi = v128.and(i16x8.shr_u(v, 4), mask);
      a0 = v128.xor(a0, product(t + 0, lo, hi));
      t += 32;
    }
    v128.store(o0 + off, a0);
  }
}

function mulRowsSimd(nIn: i32, nOut: i32, start: usize, end: usize): void {
  for (let first = 0; first < nOut; first += 4) {
    const rows = min(4, nOut - first);
    prepareGroup(nIn, first, rows);
    const outs = OUT_PTRS + (<usize>first << 2);
    if (rows == 4) group4(nIn, outs, start, end);
    else if (rows == 3) group3(nIn, outs, start, end);
    else if (rows == 2) group2(nIn, outs, start, end);
    else group1(nIn, outs, start, end);
  }
}

function mulRowsScalar(nIn: i32, nOut: i32, start: usize, end: usize): void {
  for (let r = 0; r < nOut; r++) {
    const out = <usize>load<u32>(OUT_PTRS + (<usize>r << 2));
    for (let j = 0; j < nIn; j++) {
      const src = <usize>load<u32>(IN_PTRS + (<usize>j << 2));
      const table = MUL + (<usize>load<u8>(COEF + <usize>(r * nIn + j)) << 8);
      if (j == 0) {
        for (let off = start; off < end; off += 4) {
          const x = load<u32>(src + off);
          const y = <u32>load<u8>(table + (x & 0xff))
            | (<u32>load<u8>(table + ((x >> 8) & 0xff)) << 8)
            | (<u32>load<u8>(table + ((x >> 16) & 0xff)) << 16)
            | (<u32>load<u8>(table + (x >> 24)) << 24);
          store<u32>(out + off, y);
        }
      } else {
        for (let off = start; off < end; off += 4) {
          const x = load<u32>(src + off);
          const y = <u32>load<u8>(table + (x & 0xff))
            | (<u32>load<u8>(table + ((x >> 8) & 0xff)) << 8)
            | (<u32>load<u8>(table + ((x >> 16) & 0xff)) << 16)
            | (<u32>load<u8>(table + (x >> 24)) << 24);
          store<u32>(out + off, load<u32>(out + off) ^ y);
        }
      }
    }
  }
}

/**
 * out[r][start..end) = XOR_j COEF[r][j] * in[j][start..end) for r < nOut.
 * start and end are multiples of 16; outputs must not alias inputs.
 */
export function mulRows(nIn: i32, nOut: i32, start: usize, end: usize): void {
  if (ASC_FEATURE_SIMD) mulRowsSimd(nIn, nOut, start, end);
  else mulRowsScalar(nIn, nOut, start, end);
}
