// Public face of the store domain: the engine and the operations on a pool.
export { Engine, type OpenOptions, type InterruptedWrite } from './engine.js';
export { DiskRegistry, type DiskInfo } from './disk-registry.js';
export { putObject, deleteObject, deleteExtentFiles, type PutResult, type PutOptions } from './writer.js';
export { readObject, readExtent, lookupObject, fragmentSources, sendChunks, READ_AHEAD, type ChunkSink } from './reader.js';
export { forEachLimited } from './limited.js';
export { repairExtent, rebuild, drainDisk, changeObjectPolicy, type RebuildSummary, type DrainSummary, type RepairResult } from './maintenance.js';
export { recoverCatalog, type RecoverSummary } from './recover.js';
export { collectGarbage, type GcSummary } from './gc.js';
export { BackgroundCompactor, compactPacks, packable, type CompactSummary, type PackStats } from './packs.js';
export { fileSource, streamSource, chunkSource, type ExtentSource } from './sources.js';
export { quantile } from './activity.js';
export { bucketObjectKey, checkKey, objectChecksum, uploadIdOfPart, uploadPartKey, INTERNAL_KEY_PREFIX } from './object-meta.js';
export { dropUpload, reclaimUploads, type UploadReclaim } from './uploads.js';
export { assembleObject } from './assemble.js';
export * from './reports.js';
export * from '../format/index.js';
