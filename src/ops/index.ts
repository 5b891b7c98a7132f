// Public face of the operations layer: the pool operations by name (above store and scrub).
export { OPS, runOp, type OpParams, type Progress } from './operations.js';
