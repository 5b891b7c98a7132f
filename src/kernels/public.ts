// `dynamicfs/kernels`: the kernels for programmatic use, in the calling thread.
//
//   const k = await createKernels();
//   k.xxh3(bytes)                          -> bigint
//   k.rsEncode(4, 2, [d0, d1, d2, d3])     -> [p0, p1]
//   k.rsReconstruct(4, 2, [d0, null, ...]) -> all 6 fragments
import { resolveVariant, type KernelChoice, type KernelVariant } from './loader.js';
import { KernelInstance, type VerifyResult } from './instance.js';

export interface Kernels {
  readonly variant: KernelVariant;
  xxh3(bytes: Uint8Array): bigint;
  rsEncode(k: number, m: number, data: Uint8Array[]): Uint8Array[];
  rsReconstruct(k: number, m: number, fragments: (Uint8Array | null)[]): Uint8Array[];
  verify(k: number, m: number, fragments: Uint8Array[], deep?: boolean): VerifyResult;
}

export interface CreateKernelsOptions {
  /** Force a variant; default `auto` (or the DYNAMICFS_KERNEL environment variable). */
  variant?: KernelChoice;
}

export async function createKernels(options: CreateKernelsOptions = {}): Promise<Kernels> {
  const instance = new KernelInstance(resolveVariant(options.variant));
  return {
    variant: instance.variant,
    xxh3: (bytes) => instance.xxh3(bytes),
    rsEncode: (k, m, data) => instance.rsEncode(k, m, data),
    rsReconstruct: (k, m, fragments) => instance.rsReconstruct(k, m, fragments),
    verify: (k, m, fragments, deep = false) => instance.verify(k, m, fragments, deep),
  };
}

export type { KernelVariant, KernelChoice, VerifyResult };
export { KERNEL_VARIANTS, isVariantSupported } from './loader.js';
export { DfsError } from '../errors.js';
