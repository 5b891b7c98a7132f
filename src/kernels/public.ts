// `dynamicfs/kernels`: the kernels for programmatic use, in the calling thread.
//
//   const k = await createKernels();
//   k.xxh3(bytes)                          -> bigint
//   k.rsEncode(4, 2, [d0, d1, d2, d3])     -> [p0, p1]
//   k.rsReconstruct(4, 2, [d0, null, ...]) -> all 6 fragments
//
// Those copy every input into WASM memory and allocate every output: simple,
// and about 0.7x the speed of the kernel itself on 1 MiB. At native speed:
//
//   const code = k.codeBuffers(4, 2, fragmentLength);  // fragments in WASM memory
//   readSync(fd, code.fragment(0)); ...                 // write the data fragments in place
//   code.encode();                                      // parity appears in code.fragment(4), (5)
//   code.reconstruct([true, false, true, true, true, false]);  // rebuilds 1 and 5 in place
//
// or keep your own buffers and pass outputs in: rsEncode(k, m, data, parityOut).
import { resolveVariant, type KernelChoice, type KernelVariant } from './loader.js';
import { KernelInstance, type VerifyResult } from './instance.js';
import { checkCodeShape } from './status.js';
import { DfsError } from '../errors.js';

export interface Kernels {
  readonly variant: KernelVariant;
  xxh3(bytes: Uint8Array): bigint;
  /** Parity of K data fragments: into `parityOut` (M buffers of the fragments' length) when given, else new buffers. */
  rsEncode(k: number, m: number, data: Uint8Array[], parityOut?: Uint8Array[]): Uint8Array[];
  rsReconstruct(k: number, m: number, fragments: (Uint8Array | null)[]): Uint8Array[];
  verify(k: number, m: number, fragments: Uint8Array[], deep?: boolean): VerifyResult;
  /** K+M fragments of `fragmentLength` bytes living in WASM memory of their own, coded in place: no copy in or out. */
  codeBuffers(k: number, m: number, fragmentLength: number): CodeBuffers;
}

/**
 * A code's fragments in WASM memory (an instance of the kernels of their
 * own, so the views stay valid for the object's life, whatever else runs).
 */
export interface CodeBuffers {
  readonly k: number;
  readonly m: number;
  readonly fragmentLength: number;
  /** Fragment i (data 0..K-1, parity K..K+M-1): a view to write into and read from. */
  fragment(index: number): Uint8Array;
  /** Computes the parity fragments from the data fragments, in place. */
  encode(): void;
  /** Rebuilds in place every fragment whose `present` flag is false, from K present ones. */
  reconstruct(present: readonly boolean[]): void;
  /** XXH3-64 of fragment i, where it lies. */
  hash(index: number): bigint;
  /** Every fragment's XXH3-64 and, when deep, whether each parity fragment matches the data. */
  verify(deep?: boolean): VerifyResult;
}

export interface CreateKernelsOptions {
  /** Force a variant; default `auto` (or the DYNAMICFS_KERNEL environment variable). */
  variant?: KernelChoice;
}

function codeBuffers(variant: KernelVariant, k: number, m: number, fragmentLength: number): CodeBuffers {
  checkCodeShape(k, m);
  const instance = new KernelInstance(variant);
  const region = instance.region(k + m, fragmentLength);
  // Views made once: the instance is this object's alone, so its memory never grows under them.
  const views = Array.from({ length: k + m }, (_, i) => region.fragment(i));
  return {
    k, m, fragmentLength,
    fragment: (index) => {
      const view = views[index];
      if (!Number.isInteger(index) || !view) throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `fragment index ${index} outside 0..${k + m - 1}`);
      return view;
    },
    encode: () => instance.encodeRegion(region, k, m),
    reconstruct: (present) => instance.reconstructRegion(region, k, m, present),
    hash: (index) => instance.hashFragment(region, index),
    verify: (deep = false) => instance.verifyRegion(region, k, m, deep),
  };
}

export async function createKernels(options: CreateKernelsOptions = {}): Promise<Kernels> {
  const instance = new KernelInstance(resolveVariant(options.variant));
  return {
    variant: instance.variant,
    xxh3: (bytes) => instance.xxh3(bytes),
    rsEncode: (k, m, data, parityOut) => instance.rsEncode(k, m, data, parityOut),
    codeBuffers: (k, m, fragmentLength) => codeBuffers(instance.variant, k, m, fragmentLength),
    rsReconstruct: (k, m, fragments) => instance.rsReconstruct(k, m, fragments),
    verify: (k, m, fragments, deep = false) => instance.verify(k, m, fragments, deep),
  };
}

export type { KernelVariant, KernelChoice, VerifyResult };
export { KERNEL_VARIANTS, isVariantSupported } from './loader.js';
export { DfsError };
