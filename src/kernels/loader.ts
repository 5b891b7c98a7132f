// Finds, validates and compiles the WASM kernel variants.
//
//   relaxed  SIMD + relaxed_swizzle (a bare pshufb on x86)
//   simd     SIMD with the strict i8x16.swizzle
//   scalar   no SIMD: table lookups, for runtimes without wasm SIMD
//
// `auto` takes the first variant the runtime accepts, judged by
// WebAssembly.validate on the variant's own bytes. Node 20 (V8 11.3) has
// relaxed SIMD behind --experimental-wasm-relaxed-simd; when the variant is
// forced (or DYNAMICFS_RELAXED_SIMD=1) the loader turns that flag on through
// v8.setFlagsFromString, which only affects modules validated afterwards, and
// re-validates. Modules are compiled once per thread and cached.
//
// Each variant is also built with a shared linear memory (dfs-<variant>-shared,
// a SharedArrayBuffer that other threads can view): the read slots of
// src/kernels/read-slots.ts run on it.
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { fileURLToPath } from 'node:url';
import { DfsError } from '../errors.js';

export type KernelVariant = 'relaxed' | 'simd' | 'scalar';
export type KernelChoice = KernelVariant | 'auto';

export const KERNEL_VARIANTS: readonly KernelVariant[] = ['relaxed', 'simd', 'scalar'];

const VARIANT_NUMBER: Record<KernelVariant, number> = { scalar: 0, simd: 1, relaxed: 2 };

/** A variant's build: its own memory, or a shared one. */
type Build = KernelVariant | `${KernelVariant}-shared`;

const bytesCache = new Map<Build, Uint8Array>();
const moduleCache = new Map<Build, WebAssembly.Module>();

export function wasmPath(build: Build): string {
  return fileURLToPath(new URL(`../../wasm/dfs-${build}.wasm`, import.meta.url));
}

function variantBytes(build: Build): Uint8Array {
  let bytes = bytesCache.get(build);
  if (!bytes) {
    try {
      bytes = readFileSync(wasmPath(build));
    } catch (cause) {
      throw new DfsError('DFS_ERR_KERNEL_LOAD', `${wasmPath(build)} is missing`, { cause });
    }
    bytesCache.set(build, bytes);
  }
  return bytes;
}

let relaxedFlagTried = false;

function enableRelaxedSimdFlag(): void {
  if (relaxedFlagTried) return;
  relaxedFlagTried = true;
  setFlagsFromString('--experimental-wasm-relaxed-simd');
}

/** True when this runtime accepts the variant (may enable the relaxed-SIMD flag if `allowFlag`). */
export function isVariantSupported(variant: KernelVariant, allowFlag = true): boolean {
  const bytes = variantBytes(variant);
  if (WebAssembly.validate(bytes)) return true;
  if (variant === 'relaxed' && allowFlag) {
    enableRelaxedSimdFlag();
    return WebAssembly.validate(bytes);
  }
  return false;
}

function parseChoice(value: string | undefined, source: string): KernelChoice {
  const choice = (value ?? 'auto').trim().toLowerCase();
  if (choice === 'auto' || (KERNEL_VARIANTS as readonly string[]).includes(choice)) return choice as KernelChoice;
  throw new DfsError('DFS_ERR_CONFIG_INVALID', `${source} must be one of auto, ${KERNEL_VARIANTS.join(', ')} (got "${value}")`);
}

/** The variant to use: an explicit choice, else DYNAMICFS_KERNEL, else the fastest the runtime accepts. */
export function resolveVariant(choice?: KernelChoice): KernelVariant {
  const wanted = choice ?? parseChoice(process.env.DYNAMICFS_KERNEL, 'DYNAMICFS_KERNEL');
  if (wanted !== 'auto') {
    if (!isVariantSupported(wanted, true)) {
      throw new DfsError('DFS_ERR_KERNEL_UNAVAILABLE', `variant "${wanted}"`);
    }
    return wanted;
  }
  const allowFlag = process.env.DYNAMICFS_RELAXED_SIMD !== '0';
  for (const variant of KERNEL_VARIANTS) {
    if (isVariantSupported(variant, allowFlag)) return variant;
  }
  throw new DfsError('DFS_ERR_KERNEL_UNAVAILABLE', 'no variant validates on this runtime');
}

export function compiledModule(variant: KernelVariant, shared = false): WebAssembly.Module {
  const build: Build = shared ? `${variant}-shared` : variant;
  let module = moduleCache.get(build);
  if (!module) {
    if (!isVariantSupported(variant, true)) throw new DfsError('DFS_ERR_KERNEL_UNAVAILABLE', `variant "${variant}"`);
    const bytes = variantBytes(build);
    if (shared && !WebAssembly.validate(bytes)) throw new DfsError('DFS_ERR_KERNEL_UNAVAILABLE', `variant "${variant}" with shared memory`);
    module = new WebAssembly.Module(bytes);
    moduleCache.set(build, module);
  }
  return module;
}

export interface KernelExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  variant(): number;
  xxh3_64(input: number, len: number): bigint;
  xxh3_stream_init(acc: number): void;
  xxh3_stream_blocks(acc: number, window: number, blocks: number): void;
  xxh3_stream_finish(acc: number, base: number, len: number): bigint;
  rs_encode(k: number, m: number, base: number, stride: number): number;
  rs_reconstruct(k: number, m: number, base: number, stride: number, present: number): number;
  hash_fragments(count: number, base: number, stride: number, len: number, outHashes: number): number;
  verify_deep(k: number, m: number, base: number, stride: number, len: number, outHashes: number, outParityOk: number): number;
}

/** A new instance of the variant; `shared`: on a shared memory (a SharedArrayBuffer) of its own. */
export function instantiate(variant: KernelVariant, shared = false): KernelExports {
  const instance = new WebAssembly.Instance(compiledModule(variant, shared), {
    env: {
      abort(): never {
        throw new DfsError('DFS_ERR_INTERNAL_UNEXPECTED', 'kernel assertion failed');
      },
    },
  });
  const exports = instance.exports as unknown as KernelExports;
  if (exports.variant() !== VARIANT_NUMBER[variant]) {
    throw new DfsError('DFS_ERR_KERNEL_LOAD', `build/wasm/dfs-${variant}${shared ? '-shared' : ''}.wasm reports variant ${exports.variant()}`);
  }
  return exports;
}
