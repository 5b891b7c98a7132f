// Public face of the operations layer: the pool operations by name (above store and scrub).
export { OPS, checkParams, runOp, type OpDefinition, type OpParams, type ParamsSchema, type Progress } from './operations.js';
export { followEvents, parseEventFilter, withEventReader, type EventParams } from './events.js';
