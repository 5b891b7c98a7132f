// Extent verification: the XXH3-64 of every fragment and, in deep mode, a
// recomputation of the parity compared with the stored parity, in one pass
// over memory. The extent is walked in column blocks of COLUMN bytes; for
// each block every fragment's slice is hashed (advancing that fragment's
// XXH3 lanes) and, while those slices are still in cache, the parity of the
// block is recomputed into a small scratch area and compared.
import { BLOCK_LEN, finish, longBlocks, longFullBlocks, longInit } from './xxh3';
import { mulRows } from './mulrows';
import { checkLayout, prepareParityCheck } from './rs';
import { ERR_BOUNDS, MAX_FRAGMENTS, MAX_M, OK } from './status';

const COLUMN: usize = 4 * BLOCK_LEN; // 4 KiB: (K+M+M) slices of it stay in L1/L2
const LANES: usize = memory.data(MAX_FRAGMENTS * 64, 16);
const SCRATCH: usize = memory.data(MAX_M * <i32>COLUMN, 16);

/**
 * Hashes `count` fragments of `len` bytes at base + i*stride into outHashes
 * (u64 each). Used for replicas and for a shallow check of EC fragments.
 */
export function hashFragments(count: i32, base: usize, stride: usize, len: usize, outHashes: usize): i32 {
  if (<u64>base + <u64>count * <u64>stride > (<u64>memory.size() << 16) || len > stride) return ERR_BOUNDS;
  for (let i = 0; i < count; i++) {
    const frag = base + <usize>i * stride;
    const lanes = LANES;
    const blocks = longFullBlocks(len);
    if (blocks > 0 || len > 240) {
      longInit(lanes);
      longBlocks(lanes, frag, blocks);
    }
    store<u64>(outHashes + (<usize>i << 3), finish(lanes, frag, len));
  }
  return OK;
}

/**
 * Deep verification of an EC extent: hashes of all K+M fragments into
 * outHashes and, per parity fragment, 1 in outParityOk[r] when its stored
 * bytes equal the parity recomputed from the stored data fragments.
 */
export function verifyDeep(k: i32, m: i32, base: usize, stride: usize, len: usize, outHashes: usize, outParityOk: usize): i32 {
  const status = checkLayout(k, m, base, stride);
  if (status != OK) return status;
  if (len > stride) return ERR_BOUNDS;
  const n = k + m;
  const blocks = longFullBlocks(len);
  const long = len > 240;
  if (long) for (let i = 0; i < n; i++) longInit(LANES + (<usize>i << 6));
  for (let r = 0; r < m; r++) store<u8>(outParityOk + <usize>r, 1);
  for (let start: usize = 0; start < stride; start += COLUMN) {
    const end = min(start + COLUMN, stride);
    // 1. hash this column of every fragment (whole XXH3 blocks only)
    const firstBlock = start / BLOCK_LEN;
    const lastBlock = min(end / BLOCK_LEN, blocks);
    if (lastBlock > firstBlock) {
      for (let i = 0; i < n; i++) {
        longBlocks(LANES + (<usize>i << 6), base + <usize>i * stride + firstBlock * BLOCK_LEN, lastBlock - firstBlock);
      }
    }
    // 2. recompute the parity of this column and compare with the stored parity
    prepareParityCheck(k, m, base, stride, SCRATCH, COLUMN, start);
    mulRows(k, m, start, end);
    for (let r = 0; r < m; r++) {
      const stored = base + <usize>(k + r) * stride;
      const computed = SCRATCH + <usize>r * COLUMN - start;
      if (ASC_FEATURE_SIMD) {
        let acc = i8x16.splat(0);
        for (let off = start; off < end; off += 16) {
          acc = v128.or(acc, v128.xor(v128.load(stored + off), v128.load(computed + off)));
        }
        if (v128.any_true(acc)) store<u8>(outParityOk + <usize>r, 0);
      } else {
        let bits: u64 = 0;
        for (let off = start; off < end; off += 8) bits |= load<u64>(stored + off) ^ load<u64>(computed + off);
        if (bits != 0) store<u8>(outParityOk + <usize>r, 0);
      }
    }
  }
  // 3. the hash tails: the partial last block and the short-input paths
  for (let i = 0; i < n; i++) {
    store<u64>(outHashes + (<usize>i << 3), finish(LANES + (<usize>i << 6), base + <usize>i * stride, len));
  }
  return OK;
}
