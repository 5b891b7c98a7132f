// The one registry of DynamicFS error codes. Every error a user can see has a
// code here (DFS_ERR_<DOMAIN>_<CONDITION>), a message, and the HTTP status the
// API answers with. docs/ERRORS.md lists the same codes; a test keeps the two
// in step. Corruption is not an error: verifiers return outcomes. These are
// for bad input, I/O faults and conditions an operator must act on.

export interface ErrorSpec {
  readonly message: string;
  readonly httpStatus: number;
}

export const ERRORS = {
  // configuration and input
  DFS_ERR_CONFIG_INVALID: { message: 'invalid configuration', httpStatus: 400 },
  DFS_ERR_INTERNAL_UNEXPECTED: { message: 'internal error', httpStatus: 500 },
  DFS_ERR_CLI_USAGE: { message: 'bad command line', httpStatus: 400 },
  DFS_ERR_PARAM_INVALID: { message: 'invalid parameter', httpStatus: 400 },

  // scrubbing
  DFS_ERR_SCRUB_INTENSITY_INVALID: { message: 'intensity must be low, medium, high or auto', httpStatus: 400 },
  DFS_ERR_SCRUB_RATE_INVALID: { message: 'the rate cap must be a positive number of bytes per second, or 0 (or off) for none', httpStatus: 400 },
  DFS_ERR_SCRUB_SCHEDULE_INVALID: { message: 'invalid scrub schedule', httpStatus: 400 },
  DFS_ERR_SCRUB_DURATION_INVALID: { message: 'a duration is a positive number with a unit: s, m, h or d (for example 600s, 36h, 7d)', httpStatus: 400 },
  DFS_ERR_EVENTS_FILTER_INVALID: { message: 'invalid journal filter (see `dynamicfs events --help`)', httpStatus: 400 },
  DFS_ERR_SCRUB_NO_DAEMON: { message: 'no daemon owns this pool; start one with `dynamicfs scrub-daemon start` or `dynamicfs serve`', httpStatus: 409 },

  // pools
  DFS_ERR_POOL_NOT_FOUND: { message: 'not a DynamicFS pool (no pool.json)', httpStatus: 404 },
  DFS_ERR_POOL_EXISTS: { message: 'a pool already exists there', httpStatus: 409 },
  DFS_ERR_POOL_LOCKED: { message: 'the pool is owned by another live process', httpStatus: 409 },
  DFS_ERR_POOL_FORMAT: { message: 'pool.json is unreadable or of an unsupported format', httpStatus: 500 },
  DFS_ERR_POOL_REQUIRED: { message: 'no pool given: pass --pool DIR or set DYNAMICFS_POOL', httpStatus: 400 },

  // policies and sizes
  DFS_ERR_POLICY_INVALID: { message: 'malformed policy (expected replication:N with N 1..8, or ec:K+M with K 1..32, M 1..16)', httpStatus: 400 },
  DFS_ERR_POLICY_UNSATISFIABLE: { message: 'too few healthy disks for the policy', httpStatus: 409 },
  DFS_ERR_SIZE_INVALID: { message: 'invalid size', httpStatus: 400 },

  // disks
  DFS_ERR_DISK_NOT_FOUND: { message: 'the disk folder does not exist or is not a directory', httpStatus: 404 },
  DFS_ERR_DISK_UNKNOWN: { message: 'no such disk in this pool', httpStatus: 404 },
  DFS_ERR_DISK_FOREIGN: { message: 'the disk is labelled for another pool', httpStatus: 409 },
  DFS_ERR_DISK_DUPLICATE: { message: 'the disk is already part of this pool', httpStatus: 409 },
  DFS_ERR_DISK_OVERLAP: { message: 'the disk folder overlaps the pool folder or another disk of the pool', httpStatus: 409 },
  DFS_ERR_DISK_STATE_INVALID: { message: 'invalid disk state (healthy, degraded, suspect, draining, failed)', httpStatus: 400 },
  DFS_ERR_DISK_IO: { message: 'disk I/O failed', httpStatus: 500 },
  DFS_ERR_DISK_DRAIN_INCOMPLETE: { message: 'the disk could not be drained completely', httpStatus: 500 },

  // objects and extents
  DFS_ERR_OBJECT_NOT_FOUND: { message: 'no such object', httpStatus: 404 },
  DFS_ERR_OBJECT_KEY_INVALID: { message: 'invalid object key (1 to 1088 bytes of UTF-8, no NUL)', httpStatus: 400 },
  DFS_ERR_OBJECT_CHANGED: { message: 'the object changed while the operation ran', httpStatus: 409 },
  DFS_ERR_S3_KEY_UNKNOWN: { message: 'no such S3 access key in this pool', httpStatus: 404 },
  DFS_ERR_EXTENT_UNRECOVERABLE: { message: 'an extent cannot be reconstructed from its fragments; no bytes were returned for it', httpStatus: 500 },
  DFS_ERR_MEMORY_BUDGET: { message: 'the request needs more buffer memory than the pool allows', httpStatus: 507 },
  DFS_ERR_WRITE_FAILED: { message: 'the write could not be made durable on enough disks', httpStatus: 503 },

  // input and output files of the CLI
  DFS_ERR_INPUT_NOT_FOUND: { message: 'input file not found or not readable', httpStatus: 400 },
  DFS_ERR_INPUT_NOT_FILE: { message: 'the input is not a file whose bytes can be stored (a directory, a socket…)', httpStatus: 400 },
  DFS_ERR_CLI_INTERRUPTED: { message: 'interrupted', httpStatus: 499 },
  DFS_ERR_INPUT_READ: { message: 'reading the input failed', httpStatus: 400 },
  DFS_ERR_OUTPUT_WRITE: { message: 'writing the output failed', httpStatus: 500 },

  // catalogue
  DFS_ERR_CATALOG_CORRUPT: { message: 'the catalogue is unreadable (run `dynamicfs recover-catalog`)', httpStatus: 500 },
  DFS_ERR_CATALOG_POOL_MISMATCH: { message: 'pool.json and the catalogue name different pools (was pool.json edited or copied from another pool?)', httpStatus: 500 },
  DFS_ERR_CATALOG_VERSION: { message: 'the catalogue was written by a newer DynamicFS', httpStatus: 500 },

  // HTTP API
  DFS_ERR_API_UNAUTHORIZED: { message: 'missing or wrong bearer token', httpStatus: 401 },
  DFS_ERR_API_VALIDATION: { message: 'the request does not match the route schema', httpStatus: 400 },
  DFS_ERR_API_NOT_FOUND: { message: 'no such route', httpStatus: 404 },
  DFS_ERR_JOB_NOT_FOUND: { message: 'no such job (ended jobs are kept for the last 100)', httpStatus: 404 },
  DFS_ERR_API_BODY_TOO_LARGE: { message: 'the request body is too large', httpStatus: 413 },
  DFS_ERR_API_MEDIA_TYPE: { message: 'unsupported Content-Type', httpStatus: 415 },
  DFS_ERR_API_HEADERS_TOO_LARGE: { message: 'the request line and headers are too large', httpStatus: 431 },
  DFS_ERR_API_TIMEOUT: { message: 'the request was not received in time', httpStatus: 408 },
  DFS_ERR_API_BAD_REQUEST: { message: 'malformed request', httpStatus: 400 },
  DFS_ERR_DAEMON_UNREACHABLE: { message: 'the daemon that owns the pool does not answer', httpStatus: 503 },
  DFS_ERR_DAEMON_LISTEN: { message: 'the daemon cannot listen on that address', httpStatus: 500 },

  // kernels (status codes of assembly/status.ts)
  DFS_ERR_KERNEL_K_RANGE: { message: 'K (data fragments) must be an integer from 1 to 32', httpStatus: 400 },
  DFS_ERR_KERNEL_M_RANGE: { message: 'M (parity fragments) must be an integer from 1 to 16', httpStatus: 400 },
  DFS_ERR_KERNEL_TOO_FEW_FRAGMENTS: { message: 'fewer than K fragments are available; the data cannot be reconstructed', httpStatus: 422 },
  DFS_ERR_KERNEL_SINGULAR_MATRIX: { message: 'the decode matrix is singular', httpStatus: 500 },
  DFS_ERR_KERNEL_ALIGNMENT: { message: 'kernel buffer is not 16-byte aligned', httpStatus: 500 },
  DFS_ERR_KERNEL_BOUNDS: { message: 'kernel buffer reaches beyond WASM memory', httpStatus: 500 },
  DFS_ERR_KERNEL_FRAGMENT_SHAPE: { message: 'fragments do not have the shape the call needs', httpStatus: 400 },
  DFS_ERR_KERNEL_UNAVAILABLE: { message: 'the requested kernel variant is not supported by this runtime', httpStatus: 500 },
  DFS_ERR_KERNEL_LOAD: { message: 'the WASM kernels could not be loaded (run `npm run build`)', httpStatus: 500 },

  // worker pool
  DFS_ERR_WORKER_FAILED: { message: 'a worker task failed', httpStatus: 500 },
  DFS_ERR_WORKER_QUEUE_FULL: { message: 'the worker queue is full', httpStatus: 503 },
  DFS_ERR_WORKER_CLOSED: { message: 'the worker pool is closed', httpStatus: 503 },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export interface DfsErrorOptions {
  cause?: unknown;
  /** Extra machine-readable facts (never secrets or object contents). */
  details?: Record<string, unknown>;
}

export class DfsError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly details: Record<string, unknown> | undefined;

  /** `detail` is appended to the registry message: "<message>: <detail>". */
  constructor(code: ErrorCode, detail?: string, options: DfsErrorOptions = {}) {
    const spec = ERRORS[code];
    super(detail ? `${spec.message}: ${detail}` : spec.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DfsError';
    this.code = code;
    this.httpStatus = spec.httpStatus;
    this.details = options.details;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isDfsError(value: unknown, code?: ErrorCode): value is DfsError {
  return value instanceof DfsError && (code === undefined || value.code === code);
}

/** A plain, cloneable form for crossing thread boundaries (structured clone drops class and code). */
export interface SerializedError {
  code: ErrorCode;
  message: string;
}

/** SQLite's codes for a database file that is damaged or not a database at all. */
const SQLITE_DAMAGED = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_INDEX', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_VTAB']);

export function serializeError(error: unknown): SerializedError {
  if (error instanceof DfsError) return { code: error.code, message: error.message };
  const sqlite = (error as { code?: unknown } | null)?.code;
  if (typeof sqlite === 'string' && SQLITE_DAMAGED.has(sqlite)) {
    return { code: 'DFS_ERR_CATALOG_CORRUPT', message: `${ERRORS.DFS_ERR_CATALOG_CORRUPT.message}: ${(error as Error).message}` };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'DFS_ERR_INTERNAL_UNEXPECTED', message: `${ERRORS.DFS_ERR_INTERNAL_UNEXPECTED.message}: ${message}` };
}

export function deserializeError(serialized: SerializedError): DfsError {
  const error = new DfsError(serialized.code);
  error.message = serialized.message;
  return error;
}
