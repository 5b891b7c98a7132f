// Public face of the operations layer: the pool operations by name (above store and scrub).
export { OPS, checkParams, runOp, type OpDefinition, type OpParams, type ParamsSchema, type Progress } from './operations.js';
export { DEFAULT_EVENT_LIMIT, parseEventFilter, parseSince, readEvents, withEventReader, type EventParams } from './events.js';
