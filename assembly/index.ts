// The one export surface of the WASM kernels. Every function takes pointers
// into this module's linear memory, which src/kernels owns from heapBase()
// upwards; kernels never allocate. Return values are the status codes of
// assembly/status.ts (0 = OK), except xxh3_64 which returns the hash.
import { longBlocks, longFinish, longInit, xxh3 } from './xxh3';
import { encode, reconstruct } from './rs';
import { hashFragments, verifyDeep } from './verify';

export function heapBase(): usize {
  return __heap_base;
}

/** 0 scalar, 1 SIMD, 2 relaxed SIMD: lets the loader check what it loaded. */
export function variant(): i32 {
  if (ASC_FEATURE_RELAXED_SIMD) return 2;
  if (ASC_FEATURE_SIMD) return 1;
  return 0;
}

export function xxh3_64(input: usize, len: usize): u64 {
  return xxh3(input, len);
}

/**
 * Streaming XXH3 for inputs that live outside WASM memory: the caller copies
 * the input through a small window (so the copy stays in L2 and the hash
 * reads it hot) and feeds whole 1 KiB blocks, then the tail. `base` for the
 * finish is a virtual pointer: window - offset of the tail's first byte, so
 * that base + i addresses input byte i (u32 arithmetic wraps).
 */
export function xxh3_stream_init(acc: usize): void {
  longInit(acc);
}

export function xxh3_stream_blocks(acc: usize, window: usize, blocks: usize): void {
  longBlocks(acc, window, blocks);
}

export function xxh3_stream_finish(acc: usize, base: usize, len: usize): u64 {
  return longFinish(acc, base, len);
}

export function rs_encode(k: i32, m: i32, base: usize, stride: usize): i32 {
  return encode(k, m, base, stride);
}

export function rs_reconstruct(k: i32, m: i32, base: usize, stride: usize, present: usize): i32 {
  return reconstruct(k, m, base, stride, present);
}

export function hash_fragments(count: i32, base: usize, stride: usize, len: usize, outHashes: usize): i32 {
  return hashFragments(count, base, stride, len, outHashes);
}

export function verify_deep(k: i32, m: i32, base: usize, stride: usize, len: usize, outHashes: usize, outParityOk: usize): i32 {
  return verifyDeep(k, m, base, stride, len, outHashes, outParityOk);
}
