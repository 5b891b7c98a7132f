// Message shapes between the main thread and the kernel workers, declared
// once. Bytes never travel by structured-clone copy: extents go in on a
// SharedArrayBuffer, fragment files are read by the worker straight into its
// WASM memory, and rebuilt fragments come back in one transferred buffer.
import type { SerializedError } from '../errors.js';
import { ecFragmentLength, type CodeLayout } from '../pool/index.js';
import type { SlotRef } from './read-slots.js';

export type { CodeLayout };

/** Where one fragment's payload lives: `length` bytes at `offset` of `path`. */
export interface FragmentSource {
  path: string;
  /** Byte offset of the payload inside the file (the header comes first). */
  offset: number;
  /** XXH3-64 the payload must have. */
  expected: bigint;
  /** The disk's place in the per-disk read queue (disk-gate.ts); without it the read is not queued. */
  disk?: number;
}


/** How one fragment fared; corruption is an outcome, not an exception. */
export type FragmentStatus = 'ok' | 'missing' | 'unreadable' | 'truncated' | 'checksum_mismatch';

export interface FragmentOutcome {
  status: FragmentStatus;
  /** The payload's XXH3-64 when it could be read whole. */
  hash: bigint | null;
  /** errno code for unreadable fragments (EIO, EACCES, ...). */
  errno?: string;
}

export interface EncodeTask {
  op: 'encode';
  k: number;
  m: number;
  /** The extent's bytes, on a SharedArrayBuffer so that nothing is copied across threads. */
  extent: Uint8Array;
  /**
   * Where the parity goes: M × fragmentLength bytes on a SharedArrayBuffer the
   * caller owns (nothing allocated or transferred). Without it, parity comes
   * back in a transferred buffer.
   */
  parityInto?: Uint8Array;
}

export interface EncodeResult {
  fragmentLength: number;
  extentHash: bigint;
  /** XXH3-64 of each of the K+M fragments (data fragments zero-padded to fragmentLength). */
  fragmentHashes: bigint[];
  /** M parity fragments back to back (M × fragmentLength), in a transferred buffer. */
  parity: Uint8Array;
}

export interface VerifyTask {
  op: 'verify';
  layout: CodeLayout;
  fragmentLength: number;
  /** One entry per fragment index; null where the catalogue knows of no fragment. */
  fragments: (FragmentSource | null)[];
  /** EC only: also recompute parity from the data fragments and compare. */
  deep: boolean;
}

export interface VerifyResult {
  fragments: FragmentOutcome[];
  /** Deep EC verification with every fragment readable: parity matched the data. Otherwise null. */
  parityConsistent: boolean | null;
  bytesRead: number;
}

export interface ReconstructTask {
  op: 'reconstruct';
  layout: CodeLayout;
  fragmentLength: number;
  fragments: (FragmentSource | null)[];
  /** Fragment indices to rebuild. */
  wanted: number[];
  /**
   * Where the rebuilt fragments go: wanted.length × fragmentLength bytes on a
   * SharedArrayBuffer (the engine's buffer arena), written in place. Without
   * it they come back in a new transferred buffer.
   */
  into?: Uint8Array;
}

export interface ReconstructResult {
  /** How each source fared; only `ok` ones were used. */
  fragments: FragmentOutcome[];
  /** Rebuilt fragments, in `wanted` order, back to back (in `into` when given, else one transferred buffer). */
  rebuilt: Uint8Array;
  rebuiltHashes: bigint[];
  bytesRead: number;
}

/**
 * Reads one extent for a client: only the fragments it needs (the K data
 * fragments, or one replica), each checked against its checksum; a bad or
 * missing one is replaced by reading further fragments and reconstructing.
 * The assembled bytes are checked against the extent checksum before they
 * are returned, so wrong bytes never leave the worker.
 */
export interface ReadTask {
  op: 'read';
  layout: CodeLayout;
  fragmentLength: number;
  /** Bytes of object data in the extent. */
  size: number;
  extentHash: bigint;
  fragments: (FragmentSource | null)[];
  /**
   * Where the verified bytes go: a view of `size` bytes at the start of an
   * ArrayBuffer the caller hands over by transfer (see KernelPool.read); the
   * result's `data` is then a view of that same buffer, transferred back.
   * (A SharedArrayBuffer works too, but V8 copies into shared memory with a
   * relaxed-atomic loop: 6.8 GB/s here against 8–10 GB/s into an
   * ArrayBuffer.) Without it the bytes come back in a new transferred buffer.
   */
  into?: Uint8Array;
  /**
   * Leave the bytes in one of the worker's shared read slots (see
   * src/kernels/read-slots.ts) instead: no copy either way. The result then
   * names the slot; with no slot free it carries the bytes as without this.
   */
  slot?: boolean;
}

export interface ReadResult {
  /** How each fragment fared; null where it was not needed and so not read. */
  fragments: (FragmentOutcome | null)[];
  /**
   * The extent's bytes (on `into`'s buffer when given, else a new one), or
   * null when they could not be recovered — `into`'s buffer is then gone.
   */
  data: Uint8Array | null;
  /**
   * Where the bytes are when the task asked for a slot and got one (`data`
   * is then null as it comes from the worker; KernelPool.read turns the slot
   * into `data` and `release`).
   */
  slot?: SlotRef;
  /** Frees the slot `data` lies in: call it once done with the bytes. */
  release?: () => void;
  reconstructed: boolean;
  bytesRead: number;
}

/** What a scrub finds wrong with one fragment, beyond what a read can tell. */
export type ScrubStatus = FragmentStatus | 'header_invalid' | 'misplaced';

export interface ScrubOutcome {
  status: ScrubStatus;
  /** Bytes read from the file (header and payload). */
  bytes: number;
  errno?: string;
  /** A bad fragment's payload XXH3-64, of the bytes found (what there was of it when short); absent when none were read. */
  hash?: bigint;
}

/**
 * Checks every fragment of an extent as the scrubber does: present, readable,
 * header valid and naming this pool, extent and index, payload whole and equal
 * to its checksum. Every fragment is read, including ones known bad.
 */
export interface ScrubTask {
  op: 'scrub';
  poolId: string;
  extentId: string;
  fragmentLength: number;
  /** Header length of this extent's fragment files: the payload starts here. */
  headerLength: number;
  /** One entry per fragment index; null where no fragment is recorded (counted missing). */
  fragments: (FragmentSource | null)[];
  /** A light check: each file's presence, size and header, its payload not read. */
  light?: boolean;
  /** Read past the page cache (O_DIRECT) where the filesystem allows it: see task-runner's readUncached. */
  direct?: boolean;
}

export interface ScrubResult {
  fragments: ScrubOutcome[];
  bytesRead: number;
}

/** Scrub statuses by number, as a ScrubPageResult carries them. */
export const SCRUB_STATUSES: readonly ScrubStatus[] = ['ok', 'missing', 'unreadable', 'truncated', 'checksum_mismatch', 'header_invalid', 'misplaced'];

/**
 * The scrubber's batch of extents packed into a few typed arrays: one
 * structured clone of flat arrays instead of an object and a path per
 * fragment (the daemon's thread shares two cores with the workers, so what it
 * spends per extent is taken from the checks). The worker builds each
 * fragment's path from its disk's folder and runs a ScrubTask per extent.
 */
export interface ScrubPageTask {
  op: 'scrubPage';
  poolId: string;
  /** Disk folders; fragments name theirs by its position here. */
  diskPaths: string[];
  /** Per disk folder, its place in the per-disk read queue (disk-gate.ts). */
  diskGates?: number[];
  extentIds: string[];
  /** Per extent, three numbers: fragment length, header length, width (fragment count). */
  shape: Uint32Array;
  /** Per fragment (every extent's, in order): its disk's position in diskPaths, or -1 (none recorded, or its disk failed: missing). */
  disks: Int32Array;
  /** Per fragment: the payload checksum it must have. */
  expected: BigUint64Array;
  /** Light checks (see ScrubTask.light). */
  light?: boolean;
  /** Reads past the page cache (see ScrubTask.direct). */
  direct?: boolean;
}

export interface ScrubPageResult {
  /** Per fragment: its status as a position in SCRUB_STATUSES. */
  status: Uint8Array;
  /** Per fragment: bytes read from its file. */
  bytes: Float64Array;
  /** The errno of each fragment that had one, by fragment position. */
  errnos: [number, string][];
  /** The payload hash of each bad fragment whose bytes were read (ScrubOutcome.hash), by fragment position. */
  observed: [number, bigint][];
  /** Extents whose check failed as a whole (a bug, not a bad fragment), by extent position. */
  errors: [number, SerializedError][];
}

export interface HashTask {
  op: 'hash';
  data: Uint8Array;
}

export type SingleTask = EncodeTask | VerifyTask | ReconstructTask | ReadTask | ScrubTask | ScrubPageTask | HashTask;

/**
 * Several extents in one hand-off. piscina costs tens of microseconds per task
 * here, a fifth of a 1 MiB verify; a batch (the scrubber's 5 or 20 extents per
 * intensity step) pays it once. Each member succeeds or fails on its own.
 */
export interface BatchTask {
  op: 'batch';
  tasks: SingleTask[];
}

export type KernelTask = SingleTask | BatchTask;

export type SingleTaskResult<T extends SingleTask> = T extends EncodeTask
  ? EncodeResult
  : T extends VerifyTask
    ? VerifyResult
    : T extends ReconstructTask
      ? ReconstructResult
      : T extends ReadTask
        ? ReadResult
        : T extends ScrubTask
          ? ScrubResult
          : T extends ScrubPageTask
            ? ScrubPageResult
            : bigint;

export type KernelTaskResult<T extends KernelTask> = T extends SingleTask
  ? SingleTaskResult<T>
  : TaskEnvelope<EncodeResult | VerifyResult | ReconstructResult | ReadResult | ScrubResult | ScrubPageResult | bigint>[];

/** What a worker posts back: errors as data, because structured clone drops error codes. */
export type TaskEnvelope<R> = { ok: true; value: R } | { ok: false; error: SerializedError };

/** Fragment payload length for an extent of `size` bytes split K ways: a multiple of 16. */
export function fragmentLengthFor(size: number, k: number): number {
  return ecFragmentLength(size, k);
}
