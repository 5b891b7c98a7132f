// Public face of the catalogue domain.
export { Catalog } from './catalog.js';
export type { ProblemRow } from './problems.js';
export * from './rows.js';
export { SCHEMA_VERSION } from './schema.js';
