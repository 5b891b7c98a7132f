// XXH3-64 (seed 0, default secret) exactly as the xxHash specification
// defines it. Inputs up to 240 bytes take the short paths; longer inputs are
// split into 1 KiB blocks of 16 stripes of 64 bytes, accumulated into eight
// 64-bit lanes. The SIMD variant keeps those lanes in four v128 registers.
//
// The long path is exposed in three steps (init, blocks, finish) so that
// verify.ts can hash a fragment column block by column block while the same
// bytes are hot in cache for the parity check: one pass over memory.

const PRIME32_1: u64 = 0x9e3779b1;
const PRIME32_2: u64 = 0x85ebca77;
const PRIME32_3: u64 = 0xc2b2ae3d;
const PRIME64_1: u64 = 0x9e3779b185ebca87;
const PRIME64_2: u64 = 0xc2b2ae3d27d4eb4f;
const PRIME64_3: u64 = 0x165667b19e3779f9;
const PRIME64_4: u64 = 0x85ebca77c2b2ae63;
const PRIME64_5: u64 = 0x27d4eb2f165667c5;
const PRIME_MX1: u64 = 0x165667919e3779f9;
const PRIME_MX2: u64 = 0x9fb21c651e98df25;

const SECRET_SIZE: usize = 192;
const STRIPE_LEN: usize = 64;
const SECRET_CONSUME_RATE: usize = 8;
const STRIPES_PER_BLOCK: usize = (SECRET_SIZE - STRIPE_LEN) / SECRET_CONSUME_RATE; // 16
export const BLOCK_LEN: usize = STRIPE_LEN * STRIPES_PER_BLOCK; // 1024
const MIDSIZE_MAX: usize = 240;

const SECRET: usize = memory.data<u8>([
  0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
  0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
  0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
  0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
  0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
  0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
  0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
  0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
  0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
  0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
  0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
  0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
], 16);

// @ts-ignore: decorator
@inline
function mul128fold64(a: u64, b: u64): u64 {
  const aLo = a & 0xffffffff;
  const aHi = a >> 32;
  const bLo = b & 0xffffffff;
  const bHi = b >> 32;
  const loLo = aLo * bLo;
  const hiLo = aHi * bLo;
  const loHi = aLo * bHi;
  const hiHi = aHi * bHi;
  const cross = (loLo >> 32) + (hiLo & 0xffffffff) + loHi;
  const upper = (hiLo >> 32) + (cross >> 32) + hiHi;
  const lower = (cross << 32) | (loLo & 0xffffffff);
  return lower ^ upper;
}

// @ts-ignore: decorator
@inline
function xxh64Avalanche(h: u64): u64 {
  h ^= h >> 33;
  h *= PRIME64_2;
  h ^= h >> 29;
  h *= PRIME64_3;
  h ^= h >> 32;
  return h;
}

// @ts-ignore: decorator
@inline
function avalanche(h: u64): u64 {
  h ^= h >> 37;
  h *= PRIME_MX1;
  h ^= h >> 32;
  return h;
}

// @ts-ignore: decorator
@inline
function rrmxmx(h: u64, len: u64): u64 {
  h ^= rotl<u64>(h, 49) ^ rotl<u64>(h, 24);
  h *= PRIME_MX2;
  h ^= (h >> 35) + len;
  h *= PRIME_MX2;
  h ^= h >> 28;
  return h;
}

// @ts-ignore: decorator
@inline
function mix16B(input: usize, secret: usize): u64 {
  return mul128fold64(load<u64>(input) ^ load<u64>(secret), load<u64>(input, 8) ^ load<u64>(secret, 8));
}

function len0to16(input: usize, len: usize): u64 {
  if (len > 8) {
    const bitflip1 = load<u64>(SECRET, 24) ^ load<u64>(SECRET, 32);
    const bitflip2 = load<u64>(SECRET, 40) ^ load<u64>(SECRET, 48);
    const inputLo = load<u64>(input) ^ bitflip1;
    const inputHi = load<u64>(input + len - 8) ^ bitflip2;
    const acc = <u64>len + bswap<u64>(inputLo) + inputHi + mul128fold64(inputLo, inputHi);
    return avalanche(acc);
  }
  if (len >= 4) {
    const input1 = <u64>load<u32>(input);
    const input2 = <u64>load<u32>(input + len - 4);
    const bitflip = load<u64>(SECRET, 8) ^ load<u64>(SECRET, 16);
    const input64 = input2 + (input1 << 32);
    return rrmxmx(input64 ^ bitflip, <u64>len);
  }
  if (len > 0) {
    const c1 = <u32>load<u8>(input);
    const c2 = <u32>load<u8>(input + (len >> 1));
    const c3 = <u32>load<u8>(input + len - 1);
    const combined = (c1 << 16) | (c2 << 24) | c3 | (<u32>len << 8);
    const bitflip = <u64>(load<u32>(SECRET) ^ load<u32>(SECRET, 4));
    return xxh64Avalanche(<u64>combined ^ bitflip);
  }
  return xxh64Avalanche(load<u64>(SECRET, 56) ^ load<u64>(SECRET, 64));
}

function len17to128(input: usize, len: usize): u64 {
  let acc = <u64>len * PRIME64_1;
  if (len > 32) {
    if (len > 64) {
      if (len > 96) {
        acc += mix16B(input + 48, SECRET + 96);
        acc += mix16B(input + len - 64, SECRET + 112);
      }
      acc += mix16B(input + 32, SECRET + 64);
      acc += mix16B(input + len - 48, SECRET + 80);
    }
    acc += mix16B(input + 16, SECRET + 32);
    acc += mix16B(input + len - 32, SECRET + 48);
  }
  acc += mix16B(input, SECRET);
  acc += mix16B(input + len - 16, SECRET + 16);
  return avalanche(acc);
}

function len129to240(input: usize, len: usize): u64 {
  let acc = <u64>len * PRIME64_1;
  const rounds = len >> 4;
  for (let i: usize = 0; i < 8; i++) acc += mix16B(input + (i << 4), SECRET + (i << 4));
  acc = avalanche(acc);
  for (let i: usize = 8; i < rounds; i++) acc += mix16B(input + (i << 4), SECRET + ((i - 8) << 4) + 3);
  acc += mix16B(input + len - 16, SECRET + 136 - 17);
  return avalanche(acc);
}

// ---- long inputs: eight 64-bit accumulator lanes kept at `acc` between calls

/** Writes the initial accumulator lanes (64 bytes) at `acc`. */
export function longInit(acc: usize): void {
  store<u64>(acc, PRIME32_3, 0);
  store<u64>(acc, PRIME64_1, 8);
  store<u64>(acc, PRIME64_2, 16);
  store<u64>(acc, PRIME64_3, 24);
  store<u64>(acc, PRIME64_4, 32);
  store<u64>(acc, PRIME32_2, 40);
  store<u64>(acc, PRIME64_5, 48);
  store<u64>(acc, PRIME32_1, 56);
}

/** Number of whole 1 KiB blocks that the long hash of `len` bytes scrambles. */
// @ts-ignore: decorator
@inline
export function longFullBlocks(len: usize): usize {
  return len > MIDSIZE_MAX ? (len - 1) / BLOCK_LEN : 0;
}

// @ts-ignore: decorator
@inline
function productSimd(data: v128, secret: usize): v128 {
  const key = v128.xor(data, v128.load(secret));
  // (key & 0xffffffff) * (key >> 32) per 64-bit lane: gather the low and the
  // high halves into the low lanes and widen-multiply (pmuludq on x86).
  const lo = i32x4.shuffle(key, key, 0, 2, 0, 2);
  const hi = i32x4.shuffle(key, key, 1, 3, 1, 3);
  return i64x2.extmul_low_i32x4_u(lo, hi);
}

// @ts-ignore: decorator
@inline
function scrambleSimd(a: v128, secret: usize): v128 {
  a = v128.xor(a, i64x2.shr_u(a, 47));
  a = v128.xor(a, v128.load(secret));
  return i64x2.mul(a, i64x2.splat(<i64>PRIME32_1));
}

/**
 * Accumulates `count` stripes starting at `input`, secret offset advancing 8 B
 * per stripe. The spec adds each data lane into its neighbour (acc[i^1] +=
 * data[i]); addition commutes, so the data is summed unswapped in d0..d3 and
 * swapped once at the end: one shuffle per run instead of one per 16 bytes.
 */
function stripesSimd(acc: usize, input: usize, count: usize, secret: usize, scramble: bool): void {
  let a0 = v128.load(acc, 0);
  let a1 = v128.load(acc, 16);
  let a2 = v128.load(acc, 32);
  let a3 = v128.load(acc, 48);
  let d0 = i64x2.splat(0);
  let d1 = d0;
  let d2 = d0;
  let d3 = d0;
  for (let s: usize = 0; s < count; s++) {
    const inp = input + s * STRIPE_LEN;
    const sec = secret + s * SECRET_CONSUME_RATE;
    const v0 = v128.load(inp);
    const v1 = v128.load(inp, 16);
    const v2 = v128.load(inp, 32);
    const v3 = v128.load(inp, 48);
    d0 = i64x2.add(d0, v0);
    d1 = i64x2.add(d1, v1);
    d2 = i64x2.add(d2, v2);
    d3 = i64x2.add(d3, v3);
    a0 = i64x2.add(a0, productSimd(v0, sec));
    a1 = i64x2.add(a1, productSimd(v1, sec + 16));
    a2 = i64x2.add(a2, productSimd(v2, sec + 32));
    a3 = i64x2.add(a3, productSimd(v3, sec + 48));
  }
  a0 = i64x2.add(a0, i64x2.shuffle(d0, d0, 1, 0));
  a1 = i64x2.add(a1, i64x2.shuffle(d1, d1, 1, 0));
  a2 = i64x2.add(a2, i64x2.shuffle(d2, d2, 1, 0));
  a3 = i64x2.add(a3, i64x2.shuffle(d3, d3, 1, 0));
  if (scramble) {
    const key = SECRET + SECRET_SIZE - STRIPE_LEN;
    a0 = scrambleSimd(a0, key);
    a1 = scrambleSimd(a1, key + 16);
    a2 = scrambleSimd(a2, key + 32);
    a3 = scrambleSimd(a3, key + 48);
  }
  v128.store(acc, a0, 0);
  v128.store(acc, a1, 16);
  v128.store(acc, a2, 32);
  v128.store(acc, a3, 48);
}

function stripesScalar(acc: usize, input: usize, count: usize, secret: usize, scramble: bool): void {
  for (let s: usize = 0; s < count; s++) {
    const inp = input + s * STRIPE_LEN;
    const sec = secret + s * SECRET_CONSUME_RATE;
    for (let i: usize = 0; i < 8; i++) {
      const value = load<u64>(inp + (i << 3));
      const key = value ^ load<u64>(sec + (i << 3));
      const swapTo = acc + ((i ^ 1) << 3);
      store<u64>(swapTo, load<u64>(swapTo) + value);
      const self = acc + (i << 3);
      store<u64>(self, load<u64>(self) + (key & 0xffffffff) * (key >> 32));
    }
  }
  if (scramble) {
    const key = SECRET + SECRET_SIZE - STRIPE_LEN;
    for (let i: usize = 0; i < 8; i++) {
      const lane = acc + (i << 3);
      let a = load<u64>(lane);
      a ^= a >> 47;
      a ^= load<u64>(key + (i << 3));
      store<u64>(lane, a * PRIME32_1);
    }
  }
}

// @ts-ignore: decorator
@inline
function stripes(acc: usize, input: usize, count: usize, secret: usize, scramble: bool): void {
  if (ASC_FEATURE_SIMD) stripesSimd(acc, input, count, secret, scramble);
  else stripesScalar(acc, input, count, secret, scramble);
}

/** Accumulates and scrambles `blocks` whole 1 KiB blocks starting at `input`. */
export function longBlocks(acc: usize, input: usize, blocks: usize): void {
  for (let b: usize = 0; b < blocks; b++) {
    stripes(acc, input + b * BLOCK_LEN, STRIPES_PER_BLOCK, SECRET, true);
  }
}

/** Finishes a long hash whose first longFullBlocks(len) blocks went through longBlocks. */
export function longFinish(acc: usize, input: usize, len: usize): u64 {
  const blocks = longFullBlocks(len);
  const tail = input + blocks * BLOCK_LEN;
  const tailStripes = (len - 1 - blocks * BLOCK_LEN) / STRIPE_LEN;
  stripes(acc, tail, tailStripes, SECRET, false);
  stripes(acc, input + len - STRIPE_LEN, 1, SECRET + SECRET_SIZE - STRIPE_LEN - 7, false);
  let result = <u64>len * PRIME64_1;
  for (let i: usize = 0; i < 4; i++) {
    const sec = SECRET + 11 + (i << 4);
    result += mul128fold64(load<u64>(acc + (i << 4)) ^ load<u64>(sec), load<u64>(acc + (i << 4), 8) ^ load<u64>(sec, 8));
  }
  return avalanche(result);
}

/** The hash of a short input (len <= 240), or of a long one whose lanes are at `acc`. */
export function finish(acc: usize, input: usize, len: usize): u64 {
  if (len <= 16) return len0to16(input, len);
  if (len <= 128) return len17to128(input, len);
  if (len <= MIDSIZE_MAX) return len129to240(input, len);
  return longFinish(acc, input, len);
}

const ACC: usize = memory.data(64, 16);

export function xxh3(input: usize, len: usize): u64 {
  if (len > MIDSIZE_MAX) {
    longInit(ACC);
    longBlocks(ACC, input, longFullBlocks(len));
  }
  return finish(ACC, input, len);
}
