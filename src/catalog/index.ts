// Public face of the catalogue domain.
export { Catalog } from './catalog.js';
export type { ProblemRow } from './problems.js';
export type { NewPack, PackRow, PackedRow } from './packs.js';
export type { PackedEntry } from './objects.js';
export type { BucketRow, PartRow, UploadRow } from './s3.js';
export * from './rows.js';
export { SCHEMA_VERSION } from './schema.js';
export { riskKey, type RiskKey } from './extents.js';
export {
  ERROR_CLASSES, EVENT_TYPES, EventReader,
  type ErrorClass, type EventFilter, type EventOrigin, type EventRetention, type EventSource, type EventTrigger, type EventType, type NewEvent, type PoolEvent,
} from './events.js';
