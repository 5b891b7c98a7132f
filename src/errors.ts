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

export function serializeError(error: unknown): SerializedError {
  if (error instanceof DfsError) return { code: error.code, message: error.message };
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'DFS_ERR_INTERNAL_UNEXPECTED', message: `${ERRORS.DFS_ERR_INTERNAL_UNEXPECTED.message}: ${message}` };
}

export function deserializeError(serialized: SerializedError): DfsError {
  const error = new DfsError(serialized.code);
  error.message = serialized.message;
  return error;
}
