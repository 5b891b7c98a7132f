// The package's programmatic face: open a pool and work with it as the CLI does.
//
//   import { Engine, putObject, fileSource, readObject, lookupObject } from 'dynamicfs';
//   const engine = Engine.open('/srv/pool');
//   await putObject(engine, await fileSource('photo.jpg'), 'photos/1.jpg');
//   for await (const chunk of readObject(engine, lookupObject(engine, 'photos/1.jpg'))) ...
//   await engine.close();
export * from './store/index.js';
export { parsePolicy, formatPolicy, parseSize, type Policy, type PoolConfig } from './pool/index.js';
export { DfsError, ERRORS, isDfsError, type ErrorCode } from './errors.js';
export { createKernels, type Kernels } from './kernels/index.js';
export { OPS, runOp, type OpParams, type Progress } from './ops/index.js';
