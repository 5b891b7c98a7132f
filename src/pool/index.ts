// Public face of the pool domain: configuration, policies, sizes, locking,
// disk labels and placement.
export * from './config.js';
export * from './policy.js';
export * from './sizes.js';
export * from './lock.js';
export * from './labels.js';
export * from './placement.js';
export { writeFileDurableSync, fsyncDirectorySync } from './durable.js';
