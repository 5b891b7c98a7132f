// One WASM kernel instance (one per thread) and the memory discipline around
// it. Callers pass and get Uint8Arrays; pointers never leave this file.
//
// Linear memory from heapBase upwards is a single arena laid out per call:
//
//   arena ─┬─ params (1 KiB): hashes out (48 × u64), parity flags, present flags
//          └─ fragments: count × stride bytes, fragment i at base + i*stride
//
// stride is the fragment length rounded up to 16 and the padding is zero,
// which is what the SIMD loops require. An ExtentRegion is valid until the
// next region() call on the same instance (that call may grow memory, which
// detaches every earlier view).
import { DfsError } from '../errors.js';
import { instantiate, type KernelExports, type KernelVariant } from './loader.js';
import { checkCodeShape, checkStatus } from './status.js';

const PAGE_BYTES = 65536;
const ARENA_ALIGN = 64;
const PARAMS_BYTES = 1024;
const HASHES_OFFSET = 0;
const PARITY_FLAGS_OFFSET = 512;
const PRESENT_FLAGS_OFFSET = 576;
const STREAM_ACC_OFFSET = 640;
/** Inputs longer than this are hashed through a window of this size (see xxh3). */
const HASH_WINDOW_BYTES = 64 * 1024;
const XXH3_BLOCK_BYTES = 1024;
/**
 * Window of xxh3Filling (the scrubber's fragments too large for one read), a
 * multiple of the block size. Measured when reads of 1 MiB replicas went
 * through it: 64 KiB 2.7 GB/s, 256 KiB 3.0, 1 MiB 3.5-4.3 (fewer, larger
 * reads and one hash call beat keeping the window in L2).
 */
const FILL_WINDOW_BYTES = 1024 * 1024;

export function strideFor(length: number): number {
  return (length + 15) & ~15;
}

export interface VerifyResult {
  /** XXH3-64 of each fragment, in fragment order. */
  hashes: bigint[];
  /** Deep mode only: per parity fragment, whether it equals the recomputed parity. */
  parityOk: boolean[] | null;
}

/** K+M (or N replica) fragments of equal length laid out in WASM memory. */
export class ExtentRegion {
  constructor(
    private readonly owner: KernelInstance,
    readonly count: number,
    readonly length: number,
    readonly stride: number,
    /** @internal pointer of fragment 0 */
    readonly base: number,
  ) {}

  /** A view of fragment i's `length` bytes, for reading files straight into WASM memory. */
  fragment(index: number): Uint8Array {
    if (!Number.isInteger(index) || index < 0 || index >= this.count) {
      throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `fragment index ${index} outside 0..${this.count - 1}`);
    }
    return this.owner.view(this.base + index * this.stride, this.length);
  }

  /** All fragments as one view (length = count × stride, padding included). */
  all(): Uint8Array {
    return this.owner.view(this.base, this.count * this.stride);
  }

  set(index: number, bytes: Uint8Array): void {
    if (bytes.length !== this.length) {
      throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `fragment ${index} is ${bytes.length} bytes, expected ${this.length}`);
    }
    this.fragment(index).set(bytes);
  }
}

export class KernelInstance {
  readonly variant: KernelVariant;
  private readonly wasm: KernelExports;
  private readonly arena: number;
  private bytes: Uint8Array;
  private data: DataView;

  constructor(variant: KernelVariant) {
    this.variant = variant;
    this.wasm = instantiate(variant);
    this.arena = Math.ceil(this.wasm.heapBase() / ARENA_ALIGN) * ARENA_ALIGN;
    this.bytes = new Uint8Array(this.wasm.memory.buffer);
    this.data = new DataView(this.wasm.memory.buffer);
  }

  /** @internal */
  view(pointer: number, length: number): Uint8Array {
    this.refreshViews();
    return this.bytes.subarray(pointer, pointer + length);
  }

  private refreshViews(): void {
    if (this.bytes.buffer !== this.wasm.memory.buffer) {
      this.bytes = new Uint8Array(this.wasm.memory.buffer);
      this.data = new DataView(this.wasm.memory.buffer);
    }
  }

  private reserve(bytes: number): void {
    const needed = this.arena + PARAMS_BYTES + bytes;
    const have = this.wasm.memory.buffer.byteLength;
    if (needed > have) this.wasm.memory.grow(Math.ceil((needed - have) / PAGE_BYTES));
    this.refreshViews();
  }

  /** Lays out `count` fragments of `length` bytes; padding is zeroed, contents are not. */
  region(count: number, length: number): ExtentRegion {
    if (!Number.isInteger(count) || count < 1 || count > 64) {
      throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `fragment count ${count} outside 1..64`);
    }
    if (!Number.isInteger(length) || length < 0) {
      throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `fragment length ${length} is not a byte count`);
    }
    const stride = strideFor(length);
    this.reserve(count * stride);
    const base = this.arena + PARAMS_BYTES;
    if (stride !== length) {
      for (let i = 0; i < count; i++) this.bytes.fill(0, base + i * stride + length, base + (i + 1) * stride);
    }
    return new ExtentRegion(this, count, length, stride, base);
  }

  private readHashes(count: number): bigint[] {
    this.refreshViews();
    const hashes: bigint[] = new Array(count);
    for (let i = 0; i < count; i++) hashes[i] = this.data.getBigUint64(this.arena + HASHES_OFFSET + i * 8, true);
    return hashes;
  }

  // ---- operations on a region (no copies: the worker reads files into it)

  encodeRegion(region: ExtentRegion, k: number, m: number): void {
    checkCodeShape(k, m);
    if (region.count !== k + m) {
      throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `region holds ${region.count} fragments, code ${k}+${m} needs ${k + m}`);
    }
    checkStatus(this.wasm.rs_encode(k, m, region.base, region.stride), `encode ${k}+${m}`);
  }

  /** Rebuilds in place every fragment whose `present` entry is false, from the first K present ones. */
  reconstructRegion(region: ExtentRegion, k: number, m: number, present: ArrayLike<boolean>): void {
    checkCodeShape(k, m);
    if (region.count !== k + m || present.length !== k + m) {
      throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `code ${k}+${m} needs ${k + m} fragments and flags`);
    }
    this.refreshViews();
    const flags = this.arena + PRESENT_FLAGS_OFFSET;
    for (let i = 0; i < k + m; i++) this.bytes[flags + i] = present[i] ? 1 : 0;
    checkStatus(this.wasm.rs_reconstruct(k, m, region.base, region.stride, flags), `reconstruct ${k}+${m}`);
  }

  /** XXH3-64 of every fragment of the region (replicas, or a shallow EC check). */
  hashRegion(region: ExtentRegion): bigint[] {
    checkStatus(
      this.wasm.hash_fragments(region.count, region.base, region.stride, region.length, this.arena + HASHES_OFFSET),
      'hash fragments',
    );
    return this.readHashes(region.count);
  }

  /** Hashes of all fragments and, when deep, the parity recomputed and compared — one pass. */
  verifyRegion(region: ExtentRegion, k: number, m: number, deep: boolean): VerifyResult {
    if (!deep) return { hashes: this.hashRegion(region), parityOk: null };
    checkCodeShape(k, m);
    if (region.count !== k + m) {
      throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `region holds ${region.count} fragments, code ${k}+${m} needs ${k + m}`);
    }
    const flags = this.arena + PARITY_FLAGS_OFFSET;
    checkStatus(
      this.wasm.verify_deep(k, m, region.base, region.stride, region.length, this.arena + HASHES_OFFSET, flags),
      `verify ${k}+${m}`,
    );
    const hashes = this.readHashes(k + m);
    const parityOk: boolean[] = [];
    for (let r = 0; r < m; r++) parityOk.push(this.bytes[flags + r] === 1);
    return { hashes, parityOk };
  }

  /** XXH3-64 of one fragment of a region. */
  hashFragment(region: ExtentRegion, index: number): bigint {
    region.fragment(index); // bounds check
    return BigInt.asUintN(64, this.wasm.xxh3_64(region.base + index * region.stride, region.length));
  }

  /** XXH3-64 of `length` bytes of a region starting `start` bytes into it (e.g. a payload after its header). */
  hashRange(region: ExtentRegion, start: number, length: number): bigint {
    if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > region.count * region.stride) {
      throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `range ${start}+${length} exceeds the region`);
    }
    return BigInt.asUintN(64, this.wasm.xxh3_64(region.base + start, length));
  }

  /** XXH3-64 of bytes stored contiguously at the start of a region (e.g. a whole extent). */
  hashPrefix(region: ExtentRegion, length: number): bigint {
    if (length > region.count * region.stride) {
      throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `prefix of ${length} bytes exceeds the region`);
    }
    return BigInt.asUintN(64, this.wasm.xxh3_64(region.base, length));
  }

  // ---- copying conveniences (the public API of dynamicfs/kernels)

  /**
   * XXH3-64 of bytes outside WASM memory. Long inputs are copied through a
   * 64 KiB window block by block rather than whole: the copy then lands in
   * L2 and the hash reads it from there (1 MiB: 1.27x xxhash-wasm h64 against
   * 1.18x copying all first; 16 and 32 KiB windows measured the same).
   */
  xxh3(bytes: Uint8Array): bigint {
    const length = bytes.length;
    if (length <= HASH_WINDOW_BYTES) {
      const region = this.region(1, length);
      region.set(0, bytes);
      return BigInt.asUintN(64, this.wasm.xxh3_64(region.base, length));
    }
    const region = this.region(1, HASH_WINDOW_BYTES);
    const window = region.fragment(0);
    const acc = this.arena + STREAM_ACC_OFFSET;
    const fullBlocksEnd = Math.floor((length - 1) / XXH3_BLOCK_BYTES) * XXH3_BLOCK_BYTES;
    this.wasm.xxh3_stream_init(acc);
    for (let start = 0; start < fullBlocksEnd; start += HASH_WINDOW_BYTES) {
      const end = Math.min(start + HASH_WINDOW_BYTES, fullBlocksEnd);
      window.set(bytes.subarray(start, end));
      this.wasm.xxh3_stream_blocks(acc, region.base, (end - start) / XXH3_BLOCK_BYTES);
    }
    // The finish reads the partial last block and the 64 bytes before the end,
    // which may start up to 64 bytes before the last block.
    const tailStart = fullBlocksEnd - 64;
    window.set(bytes.subarray(tailStart, length));
    return BigInt.asUintN(64, this.wasm.xxh3_stream_finish(acc, (region.base - tailStart) >>> 0, length));
  }

  /**
   * Hashes `into.length` bytes that `fill` produces, window by window: each
   * window is filled (e.g. read from a file) inside WASM memory, hashed there
   * while it is in cache, then copied to its place in `into`. Compared with
   * reading into `into` and hashing afterwards, the bytes cross main memory
   * once less. `fill(window, offset)` returns how many bytes it wrote; fewer
   * than asked means the input ended early (hash null, `got` says where).
   */
  xxh3Filling(into: Uint8Array | number, fill: (window: Uint8Array, offset: number) => number): { hash: bigint | null; got: number } {
    // A number instead of a buffer: hash `into` bytes without keeping them (the scrubber's case).
    const out = typeof into === 'number' ? null : into;
    const length = out ? out.length : (into as number);
    if (length <= FILL_WINDOW_BYTES) {
      const region = this.region(1, length);
      const view = region.fragment(0);
      const got = fill(view, 0);
      if (got < length) return { hash: null, got };
      out?.set(view);
      return { hash: BigInt.asUintN(64, this.wasm.xxh3_64(region.base, length)), got };
    }
    const region = this.region(1, FILL_WINDOW_BYTES);
    const acc = this.arena + STREAM_ACC_OFFSET;
    const fullBlocksEnd = Math.floor((length - 1) / XXH3_BLOCK_BYTES) * XXH3_BLOCK_BYTES;
    // As in xxh3(): the finish reads the partial last block and the 64 bytes before the end.
    const tailStart = fullBlocksEnd - 64;
    const tail = out ? out.subarray(tailStart, length) : new Uint8Array(length - tailStart);
    this.wasm.xxh3_stream_init(acc);
    for (let start = 0; start < length; start += FILL_WINDOW_BYTES) {
      const n = Math.min(FILL_WINDOW_BYTES, length - start);
      const window = region.fragment(0).subarray(0, n);
      const got = fill(window, start);
      if (got < n) return { hash: null, got: start + got };
      const blocksEnd = Math.min(start + n, fullBlocksEnd);
      if (blocksEnd > start) this.wasm.xxh3_stream_blocks(acc, region.base, (blocksEnd - start) / XXH3_BLOCK_BYTES);
      if (out) out.set(window, start);
      else if (start + n > tailStart) {
        const from = Math.max(start, tailStart);
        tail.set(window.subarray(from - start), from - tailStart);
      }
    }
    region.fragment(0).set(tail);
    return { hash: BigInt.asUintN(64, this.wasm.xxh3_stream_finish(acc, (region.base - tailStart) >>> 0, length)), got: length };
  }

  /** Parity of `data`; written into `parityOut` (M buffers of the data's length) when given, else into new buffers. */
  rsEncode(k: number, m: number, data: readonly Uint8Array[], parityOut?: readonly Uint8Array[]): Uint8Array[] {
    checkCodeShape(k, m);
    if (!Array.isArray(data) || data.length !== k) {
      throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `expected ${k} data fragments, got ${Array.isArray(data) ? data.length : typeof data}`);
    }
    const length = commonLength(data);
    if (parityOut !== undefined && (!Array.isArray(parityOut) || parityOut.length !== m || commonLength([data[0] ?? new Uint8Array(length), ...parityOut]) !== length)) {
      throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `parityOut must be ${m} Uint8Arrays of ${length} bytes`);
    }
    const region = this.region(k + m, length);
    data.forEach((fragment, i) => region.set(i, fragment));
    this.encodeRegion(region, k, m);
    const parity: Uint8Array[] = [];
    for (let r = 0; r < m; r++) {
      const out = parityOut?.[r];
      if (out) {
        out.set(region.fragment(k + r));
        parity.push(out);
      } else parity.push(copyOf(region.fragment(k + r)));
    }
    return parity;
  }

  rsReconstruct(k: number, m: number, fragments: readonly (Uint8Array | null | undefined)[]): Uint8Array[] {
    checkCodeShape(k, m);
    if (!Array.isArray(fragments) || fragments.length !== k + m) {
      throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `expected ${k + m} entries (null for a missing fragment)`);
    }
    const present = fragments.map((f) => f instanceof Uint8Array);
    const available = fragments.filter((f): f is Uint8Array => f instanceof Uint8Array);
    if (available.length < k) {
      throw new DfsError('DFS_ERR_KERNEL_TOO_FEW_FRAGMENTS', `${available.length} of ${k + m} present, ${k} needed`);
    }
    const length = commonLength(available);
    const region = this.region(k + m, length);
    fragments.forEach((f, i) => {
      if (f instanceof Uint8Array) region.set(i, f);
    });
    this.reconstructRegion(region, k, m, present);
    return fragments.map((f, i) => (f instanceof Uint8Array ? f : copyOf(region.fragment(i))));
  }

  verify(k: number, m: number, fragments: readonly Uint8Array[], deep = false): VerifyResult {
    checkCodeShape(k, m);
    if (!Array.isArray(fragments) || fragments.length !== k + m) {
      throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `expected ${k + m} fragments`);
    }
    const region = this.region(k + m, commonLength(fragments));
    fragments.forEach((f, i) => region.set(i, f));
    return this.verifyRegion(region, k, m, deep);
  }
}

/**
 * A copy in a new buffer. `TypedArray.prototype.slice` measured 216 µs for
 * 256 KiB here (Node 20), a new array and `set` 29 µs.
 */
function copyOf(view: Uint8Array): Uint8Array {
  const copy = new Uint8Array(view.length);
  copy.set(view);
  return copy;
}

function commonLength(fragments: readonly Uint8Array[]): number {
  if (fragments.length === 0) return 0;
  const first = fragments[0];
  if (!(first instanceof Uint8Array)) throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', 'fragments must be Uint8Arrays');
  for (const f of fragments) {
    if (!(f instanceof Uint8Array)) throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', 'fragments must be Uint8Arrays');
    if (f.length !== first.length) {
      throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `fragments of unequal length (${first.length} and ${f.length})`);
    }
  }
  return first.length;
}

const threadInstances = new Map<KernelVariant, KernelInstance>();

/** The instance of `variant` for the calling thread, created on first use. */
export function threadKernels(variant: KernelVariant): KernelInstance {
  let instance = threadInstances.get(variant);
  if (!instance) {
    instance = new KernelInstance(variant);
    threadInstances.set(variant, instance);
  }
  return instance;
}
