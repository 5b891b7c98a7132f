// Arithmetic in GF(2^8) with the polynomial x^8+x^4+x^3+x^2+1 (0x11D) and
// generator 2: the field used by Backblaze, ISA-L and most storage RS codes.
// Part of the on-disk format: changing the polynomial changes every parity byte.
//
// Tables live in static memory and are filled once when the module starts:
//   EXP   512 B   exp[i] = 2^i, doubled so exp[log a + log b] needs no modulo
//   LOG   256 B
//   NIB  8 KiB    for every coefficient c: 16 B of c*x (x = 0..15) then
//                 16 B of c*(x<<4) — the split-nibble tables fed to swizzle
//   MUL   64 KiB  full c*x product table, used only by the scalar variant

const POLY: u32 = 0x11d;

const EXP: usize = memory.data(512, 16);
const LOG: usize = memory.data(256, 16);
export const NIB: usize = memory.data(256 * 32, 16);
export const MUL: usize = memory.data(ASC_FEATURE_SIMD ? 16 : 65536, 16);

function initTables(): void {
  let x: u32 = 1;
  for (let i: u32 = 0; i < 255; i++) {
    store<u8>(EXP + i, <u8>x);
    store<u8>(EXP + i + 255, <u8>x);
    store<u8>(LOG + x, <u8>i);
    x <<= 1;
    if (x & 0x100) x ^= POLY;
  }
  store<u8>(EXP + 510, load<u8>(EXP));
  store<u8>(EXP + 511, load<u8>(EXP + 1));
  for (let c: u32 = 0; c < 256; c++) {
    const row = NIB + (<usize>c << 5);
    for (let n: u32 = 0; n < 16; n++) {
      store<u8>(row + n, gfMul(c, n));
      store<u8>(row + 16 + n, gfMul(c, n << 4));
    }
  }
  if (!ASC_FEATURE_SIMD) {
    for (let c: u32 = 0; c < 256; c++) {
      for (let n: u32 = 0; n < 256; n++) {
        store<u8>(MUL + (<usize>c << 8) + n, gfMul(c, n));
      }
    }
  }
}

// @ts-ignore: decorator
@inline
export function gfMul(a: u32, b: u32): u8 {
  if (a == 0 || b == 0) return 0;
  return load<u8>(EXP + <usize>load<u8>(LOG + a) + <usize>load<u8>(LOG + b));
}

/** Multiplicative inverse; a must not be 0. */
export function gfInv(a: u32): u8 {
  return load<u8>(EXP + 255 - <usize>load<u8>(LOG + a));
}

initTables();
