// Public face of the kernels domain for the rest of src/.
export { createKernels, type Kernels, type CreateKernelsOptions, type CodeBuffers } from './public.js';
export { KernelInstance, ExtentRegion, threadKernels, strideFor, type VerifyResult as RegionVerifyResult } from './instance.js';
export { KERNEL_VARIANTS, isVariantSupported, resolveVariant, type KernelVariant, type KernelChoice } from './loader.js';
export { KernelPool, toShared, type KernelPoolStats } from './pool.js';
export { defaultWorkerPoolOptions, validateWorkerPoolOptions, type WorkerPoolOptions } from './pool-options.js';
export { runKernelTask } from './task-runner.js';
export { Turns } from './turns.js';
export { DiskGate, GATE_DISKS, READ_TIME_BUCKETS, diskGate, gateIndexOf, type DiskReadStats } from './disk-gate.js';
export * from './tasks.js';
export { MAX_K, MAX_M } from './status.js';
