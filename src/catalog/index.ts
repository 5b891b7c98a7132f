// Public face of the catalogue domain.
export * from './catalog.js';
export { SCHEMA_VERSION } from './schema.js';
