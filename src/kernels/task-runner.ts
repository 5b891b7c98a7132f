// Runs one kernel task against this thread's kernel instance. The piscina
// worker calls it; so can the main thread (tests, benchmarks, small pools).
// Fragment files are read with readSync straight into views of WASM memory:
// the bytes are touched once by the kernel and never copied in JS.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { decodeHeader, fragmentPath, headerHashedBytes, headerIdBytes, headerMatches } from '../format/index.js';
import { diskFaultSync } from '../faults/index.js';
import { DfsError, serializeError } from '../errors.js';
import type { ExtentRegion, KernelInstance } from './instance.js';
import { threadReadSlots } from './read-slots.js';
import { checkCodeShape } from './status.js';
import {
  fragmentLengthFor,
  type CodeLayout, type EncodeResult, type EncodeTask, type FragmentOutcome, type FragmentSource,
  type BatchTask, type HashTask, type ScrubOutcome, type ScrubPageResult, type ScrubPageTask, type ScrubResult, type ScrubTask, SCRUB_STATUSES, type ReadResult, type ReadTask, type KernelTask, type ReconstructResult, type SingleTask, type TaskEnvelope, type ReconstructTask, type VerifyResult, type VerifyTask,
} from './tasks.js';

const MISSING_ERRNOS = new Set(['ENOENT', 'ENOTDIR']);

interface ReadOutcome {
  outcome: FragmentOutcome;
  bytes: number;
}

/** Reads `into.length` bytes at `position`, as many as the file has; read errors are thrown. */
function readFully(fd: number, into: Uint8Array, position: number): number {
  let got = 0;
  while (got < into.length) {
    const n = readSync(fd, into, got, into.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/**
 * Opens a fragment's file and hands it to `read`, which returns the outcome.
 * A missing source or file, and errno errors, become outcomes; anything else
 * (a bug, not a bad fragment) is thrown.
 */
function withFragment(source: FragmentSource | null, read: (fd: number, source: FragmentSource) => ReadOutcome): ReadOutcome {
  if (source === null) return { outcome: { status: 'missing', hash: null }, bytes: 0 };
  let fd: number;
  try {
    fd = openSync(source.path, 'r');
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code ?? 'EIO';
    return { outcome: { status: MISSING_ERRNOS.has(errno) ? 'missing' : 'unreadable', hash: null, errno }, bytes: 0 };
  }
  try {
    diskFaultSync('read', source.path);
    return read(fd, source);
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code;
    if (typeof errno !== 'string' || !errno.startsWith('E')) throw error;
    return { outcome: { status: 'unreadable', hash: null, errno }, bytes: 0 };
  } finally {
    closeSync(fd);
  }
}

/** Reads one payload into `into`; a problem becomes an outcome, never an exception. */
function readPayload(source: FragmentSource | null, into: Uint8Array): ReadOutcome {
  return withFragment(source, (fd, { offset }) => {
    const got = readFully(fd, into, offset);
    return { outcome: { status: got < into.length ? 'truncated' : 'ok', hash: null }, bytes: got };
  });
}

function layoutCount(layout: CodeLayout): number {
  if (layout.kind === 'ec') {
    checkCodeShape(layout.k, layout.m);
    return layout.k + layout.m;
  }
  if (!Number.isInteger(layout.copies) || layout.copies < 1 || layout.copies > 8) {
    throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `replication copies must be 1..8 (got ${String(layout.copies)})`);
  }
  return layout.copies;
}

function checkSources(fragments: readonly (FragmentSource | null)[], count: number, fragmentLength: number): void {
  if (!Array.isArray(fragments) || fragments.length !== count) {
    throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `expected ${count} fragment entries, got ${Array.isArray(fragments) ? fragments.length : typeof fragments}`);
  }
  if (!Number.isInteger(fragmentLength) || fragmentLength < 0) {
    throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `fragment length ${String(fragmentLength)} is not a byte count`);
  }
}

/** Reads every source into its slot of the region; problems become outcomes. */
function readAll(region: ExtentRegion, fragments: readonly (FragmentSource | null)[]): { outcomes: FragmentOutcome[]; bytesRead: number } {
  let bytesRead = 0;
  const outcomes = fragments.map((source, i) => {
    const { outcome, bytes } = readPayload(source, region.fragment(i));
    bytesRead += bytes;
    return outcome;
  });
  return { outcomes, bytesRead };
}

/**
 * The one place a read fragment is judged: a fragment read whole (status ok)
 * gets the hash of its bytes, and checksum_mismatch when that is not the
 * catalogue's. `hash` is called only for a fragment read whole. True when it verified.
 */
function judge(outcome: FragmentOutcome, source: FragmentSource | null, hash: () => bigint): boolean {
  if (outcome.status !== 'ok') return false;
  outcome.hash = hash();
  if (outcome.hash !== source!.expected) outcome.status = 'checksum_mismatch';
  return outcome.status === 'ok';
}

/** Marks each readable fragment ok or checksum_mismatch against its expected hash. */
function classify(outcomes: FragmentOutcome[], hashes: readonly bigint[], fragments: readonly (FragmentSource | null)[]): void {
  outcomes.forEach((outcome, i) => judge(outcome, fragments[i] ?? null, () => hashes[i]!));
}

function readAndCheck(kernels: KernelInstance, region: ExtentRegion, fragments: readonly (FragmentSource | null)[]): { outcomes: FragmentOutcome[]; bytesRead: number } {
  const read = readAll(region, fragments);
  classify(read.outcomes, kernels.hashRegion(region), fragments);
  return read;
}

export function runEncode(kernels: KernelInstance, task: EncodeTask): EncodeResult {
  const { k, m, extent } = task;
  checkCodeShape(k, m);
  if (!(extent instanceof Uint8Array)) throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', 'extent must be a Uint8Array');
  const fragmentLength = fragmentLengthFor(extent.length, k);
  const region = kernels.region(k + m, fragmentLength);
  const all = region.all();
  // stride == fragmentLength (a multiple of 16): the data fragments are the extent's bytes in order.
  all.set(extent, 0);
  all.fill(0, extent.length, k * fragmentLength);
  kernels.encodeRegion(region, k, m);
  const fragmentHashes = kernels.hashRegion(region);
  const extentHash = kernels.hashPrefix(region, extent.length);
  const into = task.parityInto;
  if (into !== undefined && (!(into instanceof Uint8Array) || into.length !== m * fragmentLength)) {
    throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `the parity view must be a Uint8Array of ${m * fragmentLength} bytes`);
  }
  const parity = into ?? new Uint8Array(new ArrayBuffer(m * fragmentLength));
  parity.set(all.subarray(k * fragmentLength, (k + m) * fragmentLength));
  return { fragmentLength, extentHash, fragmentHashes, parity };
}

export function runVerify(kernels: KernelInstance, task: VerifyTask): VerifyResult {
  const count = layoutCount(task.layout);
  checkSources(task.fragments, count, task.fragmentLength);
  const region = kernels.region(count, task.fragmentLength);
  const layout = task.layout;
  if (layout.kind === 'ec' && task.deep) {
    // Read first; run the one-pass deep kernel only when every fragment is readable.
    const { outcomes, bytesRead } = readAll(region, task.fragments);
    if (outcomes.every((o) => o.status === 'ok')) {
      const deep = kernels.verifyRegion(region, layout.k, layout.m, true);
      classify(outcomes, deep.hashes, task.fragments);
      return { fragments: outcomes, parityConsistent: deep.parityOk!.every(Boolean), bytesRead };
    }
    classify(outcomes, kernels.hashRegion(region), task.fragments);
    return { fragments: outcomes, parityConsistent: null, bytesRead };
  }
  const { outcomes, bytesRead } = readAndCheck(kernels, region, task.fragments);
  return { fragments: outcomes, parityConsistent: null, bytesRead };
}

export function runReconstruct(kernels: KernelInstance, task: ReconstructTask): ReconstructResult {
  const count = layoutCount(task.layout);
  checkSources(task.fragments, count, task.fragmentLength);
  const wanted = task.wanted;
  if (!Array.isArray(wanted) || wanted.some((w) => !Number.isInteger(w) || w < 0 || w >= count) || new Set(wanted).size !== wanted.length) {
    throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `wanted indices must be distinct integers in 0..${count - 1}`);
  }
  const region = kernels.region(count, task.fragmentLength);
  const { outcomes, bytesRead } = readAndCheck(kernels, region, task.fragments);
  const good = outcomes.map((o) => o.status === 'ok');
  const goodCount = good.filter(Boolean).length;
  const layout = task.layout;
  const length = task.fragmentLength;
  if (task.into !== undefined && (!(task.into instanceof Uint8Array) || task.into.length !== wanted.length * length)) {
    throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `into must be ${wanted.length * length} bytes (${wanted.length} fragments of ${length})`);
  }
  const rebuilt = task.into ?? new Uint8Array(new ArrayBuffer(wanted.length * length));
  if (layout.kind === 'ec') {
    if (goodCount < layout.k) {
      throw new DfsError('DFS_ERR_KERNEL_TOO_FEW_FRAGMENTS', `${goodCount} of ${count} fragments verified, ${layout.k} needed`);
    }
    // Wanted fragments that verified are rebuilt too: the caller asked for fresh copies.
    const present = good.map((ok, i) => ok && !wanted.includes(i));
    if (present.filter(Boolean).length < layout.k) present.forEach((_, i) => { present[i] = good[i]!; });
    kernels.reconstructRegion(region, layout.k, layout.m, present);
    wanted.forEach((index, j) => rebuilt.set(region.fragment(index), j * length));
  } else {
    const source = good.indexOf(true);
    if (source < 0) throw new DfsError('DFS_ERR_KERNEL_TOO_FEW_FRAGMENTS', `none of ${count} replicas verified`);
    const bytes = region.fragment(source);
    wanted.forEach((_, j) => rebuilt.set(bytes, j * length));
  }
  const rebuiltHashes = wanted.map((_, j) => kernels.xxh3(rebuilt.subarray(j * length, (j + 1) * length)));
  return { fragments: outcomes, rebuilt, rebuiltHashes, bytesRead };
}

export function runRead(kernels: KernelInstance, task: ReadTask): ReadResult {
  const count = layoutCount(task.layout);
  checkSources(task.fragments, count, task.fragmentLength);
  const { layout, fragmentLength: length, size } = task;
  if (!Number.isInteger(size) || size < 0 || (layout.kind === 'ec' ? size > layout.k * length : size !== length)) {
    throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `extent size ${String(size)} does not fit ${count} fragments of ${length} bytes`);
  }
  let into = task.into;
  if (into !== undefined && (!(into instanceof Uint8Array) || into.length !== size)) {
    throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `the output view must be a Uint8Array of ${size} bytes`);
  }
  if (task.slot && !into) {
    const read = readIntoSlot(kernels, task);
    if (read) return read;
    // A data fragment failed: straight to reconstruction (not read again here).
    if (read === null) return readThroughRegion(kernels, task, count, undefined);
    // No slot free: the bytes go back in a buffer of their own.
    into = new Uint8Array(new ArrayBuffer(size));
  }
  if (into) {
    const direct = readDirect(kernels, task, into);
    if (direct) {
      const { verified, ...rest } = direct;
      return { ...rest, data: verified ? into : null };
    }
  }
  return readThroughRegion(kernels, task, count, into);
}

/**
 * Reads the needed fragments one after another where their bytes belong in
 * `out` (at least the extent's size; a fragment reaching past it needs room
 * for all its bytes, or goes through a region), checking each against its
 * checksum with `hash(start, length)` of the bytes at `out[start..]`. Returns
 * the outcomes and whether the extent verified (null: a data fragment of an
 * EC extent failed, and only reconstruction can help).
 */
function readDirect(
  kernels: KernelInstance,
  task: ReadTask,
  out: Uint8Array,
  hash: (start: number, length: number) => bigint = (start, length) => kernels.xxh3(out.subarray(start, start + length)),
): Omit<ReadResult, 'data'> & { verified: boolean } | null {
  const { layout, fragmentLength: length, size } = task;
  const outcomes: (FragmentOutcome | null)[] = new Array<FragmentOutcome | null>(task.fragments.length).fill(null);
  let bytesRead = 0;
  /** Reads fragment i to `out[start..]` and checks it. */
  const check = (i: number, start: number): boolean => {
    const source = task.fragments[i] ?? null;
    let read: ReadOutcome;
    let ok: boolean;
    if (start + length <= out.length) {
      read = readPayload(source, out.subarray(start, start + length));
      ok = judge(read.outcome, source, () => hash(start, length));
    } else {
      // A fragment reaching past the end of `out` (zero padding): read and hash it whole in a region, keep its head.
      const region = kernels.region(1, length);
      read = readPayload(source, region.fragment(0));
      ok = judge(read.outcome, source, () => kernels.hashFragment(region, 0));
      if (ok && start < size) out.set(region.fragment(0).subarray(0, size - start), start);
    }
    bytesRead += read.bytes;
    outcomes[i] = read.outcome;
    return ok;
  };
  if (layout.kind === 'replication') {
    // The first replica that verifies is the extent (its checksum is the extent's).
    for (let i = 0; i < task.fragments.length; i++) {
      if (check(i, 0) && outcomes[i]!.hash === task.extentHash) return { fragments: outcomes, verified: true, reconstructed: i > 0, bytesRead };
    }
    return { fragments: outcomes, verified: false, reconstructed: false, bytesRead };
  }
  for (let i = 0; i < layout.k; i++) if (!check(i, i * length)) return null;
  return { fragments: outcomes, verified: true, reconstructed: false, bytesRead };
}

/**
 * readDirect into a shared read slot of this thread, hashing in place;
 * undefined when no slot is free, null when an EC data fragment failed (the
 * slot is then freed and the general path reconstructs).
 */
function readIntoSlot(kernels: KernelInstance, task: ReadTask): ReadResult | null | undefined {
  const slots = threadReadSlots(kernels.variant);
  if (!slots) return undefined;
  const { layout, fragmentLength: length, size } = task;
  const span = layout.kind === 'ec' ? layout.k * length : length;
  const slot = slots.acquire(span);
  if (slot < 0) return undefined;
  let handed = false;
  try {
    const direct = readDirect(kernels, task, slots.view(slot, 0, span), (start, n) => slots.hash(slot, start, n));
    if (!direct) return null;
    const { verified, ...rest } = direct;
    if (!verified) return { ...rest, data: null };
    handed = true;
    return { ...rest, data: null, slot: slots.ref(slot, size) };
  } finally {
    if (!handed) slots.release(slot);
  }
}

function readThroughRegion(kernels: KernelInstance, task: ReadTask, count: number, into: Uint8Array | undefined): ReadResult {
  const { layout, fragmentLength: length, size } = task;
  const region = kernels.region(count, length);
  const outcomes: (FragmentOutcome | null)[] = new Array<FragmentOutcome | null>(count).fill(null);
  let bytesRead = 0;
  const tryRead = (i: number): boolean => {
    const source = task.fragments[i] ?? null;
    const { outcome, bytes } = readPayload(source, region.fragment(i));
    bytesRead += bytes;
    outcomes[i] = outcome;
    return judge(outcome, source, () => kernels.hashFragment(region, i));
  };
  const copyOut = (from: Uint8Array): Uint8Array => {
    const data = into ?? new Uint8Array(new ArrayBuffer(size));
    data.set(from.subarray(0, size));
    return data;
  };
  if (layout.kind === 'replication') {
    for (let i = 0; i < count; i++) {
      if (tryRead(i) && outcomes[i]!.hash === task.extentHash) return { fragments: outcomes, data: copyOut(region.fragment(i)), reconstructed: i > 0, bytesRead };
    }
    return { fragments: outcomes, data: null, reconstructed: false, bytesRead };
  }
  let good = 0;
  for (let i = 0; i < layout.k; i++) if (tryRead(i)) good++;
  const reconstructed = good < layout.k;
  for (let i = layout.k; i < count && good < layout.k; i++) if (tryRead(i)) good++;
  if (good < layout.k) return { fragments: outcomes, data: null, reconstructed: false, bytesRead };
  if (reconstructed) {
    kernels.reconstructRegion(region, layout.k, layout.m, outcomes.map((o) => o?.status === 'ok'));
    // stride == length (a multiple of 16): the data fragments are the extent's bytes in order.
    // Rebuilt bytes are checked end to end; verified data fragments already were, one by one.
    if (kernels.hashPrefix(region, size) !== task.extentHash) return { fragments: outcomes, data: null, reconstructed, bytesRead };
  }
  return { fragments: outcomes, data: copyOut(region.all()), reconstructed, bytesRead };
}

/**
 * The scrubber's check of one extent: every fragment file is opened, its size
 * compared with header + payload, its header decoded and matched against this
 * pool, extent and index (a valid fragment of another extent is `misplaced`),
 * and its payload hashed while it is read into WASM memory.
 */
/** Fragments up to this size (header and payload) are read with one call into WASM memory and hashed there. */
const SCRUB_WHOLE_READ_BYTES = 4 * 1024 * 1024;

export function runScrub(kernels: KernelInstance, task: ScrubTask): ScrubResult {
  const count = task.fragments?.length ?? 0;
  checkSources(task.fragments, count, task.fragmentLength);
  if (!Number.isInteger(task.headerLength) || task.headerLength < 16 || task.headerLength > 4096) {
    throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `header length ${String(task.headerLength)} is out of range`);
  }
  const header = Buffer.allocUnsafe(task.headerLength);
  const hash = (b: Uint8Array) => kernels.xxh3(b);
  const ids = headerIdBytes(task.poolId, task.extentId);
  let bytesRead = 0;
  const outcomes = task.fragments.map((source, index): ScrubOutcome => {
    let bytes = 0;
    const { outcome } = withFragment(source, (fd, src) => {
      const status = (s: ScrubOutcome['status']): ReadOutcome => ({ outcome: { status: s as never, hash: null }, bytes });
      const end = src.offset + task.fragmentLength;
      let payloadHash: bigint | null;
      let headerGot: number;
      if (end <= SCRUB_WHOLE_READ_BYTES && src.offset >= task.headerLength) {
        // One read of header and payload into WASM memory; the payload is hashed where it landed.
        const region = kernels.region(1, end);
        const view = region.fragment(0);
        const got = readFully(fd, view, 0);
        bytes = got;
        headerGot = Math.min(got, task.headerLength);
        payloadHash = got === end ? kernels.hashRange(region, src.offset, task.fragmentLength) : null;
        // The common case: the header is exactly the expected one, checked where it lies (no decoding).
        const expected = { ids, index, length: task.headerLength, payloadLength: task.fragmentLength, payloadChecksum: src.expected };
        if (payloadHash !== null && src.offset === task.headerLength
          && headerMatches(view, expected, kernels.hashRange(region, 0, headerHashedBytes(task.headerLength)))) {
          return status(payloadHash === src.expected ? 'ok' : 'checksum_mismatch');
        }
        header.set(view.subarray(0, headerGot));
      } else {
        headerGot = readFully(fd, header, 0);
        bytes = headerGot;
        payloadHash = null;
        if (headerGot === header.length && fstatSync(fd).size >= end) {
          const filled = kernels.xxh3Filling(task.fragmentLength, (window, at) => readFully(fd, window, src.offset + at));
          bytes += filled.got;
          payloadHash = filled.hash;
        }
      }
      if (headerGot < header.length) return status('truncated');
      // The header is decoded after the payload hash: decoding hashes in the same WASM scratch memory.
      const decoded = decodeHeader(header, hash);
      if ('problem' in decoded) return status('header_invalid');
      const h = decoded.header;
      if (decoded.length !== task.headerLength || h.payloadLength !== task.fragmentLength || h.payloadChecksum !== src.expected) {
        // A well-formed header that describes other bytes: another extent's fragment, or another index of this one.
        return status(h.extentId !== task.extentId || h.index !== index || h.poolId !== task.poolId ? 'misplaced' : 'header_invalid');
      }
      if (h.extentId !== task.extentId || h.index !== index || h.poolId !== task.poolId) return status('misplaced');
      if (payloadHash === null) return status('truncated');
      return status(payloadHash === src.expected ? 'ok' : 'checksum_mismatch');
    });
    bytesRead += bytes;
    const result: ScrubOutcome = { status: outcome.status, bytes };
    if (outcome.errno) result.errno = outcome.errno;
    return result;
  });
  return { fragments: outcomes, bytesRead };
}

const SCRUB_STATUS_CODES = new Map(SCRUB_STATUSES.map((s, i) => [s, i]));

/** A packed batch of scrub checks (see ScrubPageTask); each extent succeeds or fails on its own. */
export function runScrubPage(kernels: KernelInstance, task: ScrubPageTask): ScrubPageResult {
  const { extentIds, shape, disks, expected, diskPaths } = task;
  const fragmentCount = disks?.length ?? -1;
  if (!Array.isArray(extentIds) || !Array.isArray(diskPaths) || !(shape instanceof Uint32Array) || !(disks instanceof Int32Array)
    || !(expected instanceof BigUint64Array) || shape.length !== extentIds.length * 3 || expected.length !== fragmentCount || extentIds.length > MAX_BATCH) {
    throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `a scrub page holds 0..${MAX_BATCH} extents with a shape and a disk and checksum per fragment`);
  }
  const result: ScrubPageResult = { status: new Uint8Array(fragmentCount), bytes: new Float64Array(fragmentCount), errnos: [], errors: [] };
  let at = 0;
  extentIds.forEach((extentId, e) => {
    const width = shape[e * 3 + 2]!;
    const headerLength = shape[e * 3 + 1]!;
    const first = at;
    at += width;
    try {
      if (at > fragmentCount) throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `extent ${e} reaches past the page's ${fragmentCount} fragments`);
      const fragments: (FragmentSource | null)[] = [];
      for (let i = 0; i < width; i++) {
        const disk = disks[first + i]!;
        const path = disk >= 0 ? diskPaths[disk] : undefined;
        fragments.push(path === undefined ? null : { path: fragmentPath(path, extentId, i), offset: headerLength, expected: expected[first + i]! });
      }
      const checked = runScrub(kernels, { op: 'scrub', poolId: task.poolId, extentId, fragmentLength: shape[e * 3]!, headerLength, fragments });
      checked.fragments.forEach((o, i) => {
        result.status[first + i] = SCRUB_STATUS_CODES.get(o.status)!;
        result.bytes[first + i] = o.bytes;
        if (o.errno) result.errnos.push([first + i, o.errno]);
      });
    } catch (error) {
      result.errors.push([e, serializeError(error)]);
    }
  });
  return result;
}

export function runHash(kernels: KernelInstance, task: HashTask): bigint {
  return kernels.xxh3(task.data);
}

type SingleResult = EncodeResult | VerifyResult | ReconstructResult | ReadResult | ScrubResult | ScrubPageResult | bigint;

const MAX_BATCH = 256;

export function runBatch(kernels: KernelInstance, task: BatchTask): TaskEnvelope<SingleResult>[] {
  if (!Array.isArray(task.tasks) || task.tasks.length > MAX_BATCH) {
    throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `a batch holds 0..${MAX_BATCH} tasks`);
  }
  return task.tasks.map((member): TaskEnvelope<SingleResult> => {
    try {
      if ((member as KernelTask)?.op === 'batch') throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', 'batches do not nest');
      return { ok: true, value: runSingle(kernels, member) };
    } catch (error) {
      return { ok: false, error: serializeError(error) };
    }
  });
}

export function runKernelTask(kernels: KernelInstance, task: KernelTask): SingleResult | TaskEnvelope<SingleResult>[] {
  if (task?.op === 'batch') return runBatch(kernels, task);
  return runSingle(kernels, task);
}

function runSingle(kernels: KernelInstance, task: SingleTask): SingleResult {
  switch (task?.op) {
    case 'encode':
      return runEncode(kernels, task);
    case 'verify':
      return runVerify(kernels, task);
    case 'reconstruct':
      return runReconstruct(kernels, task);
    case 'read':
      return runRead(kernels, task);
    case 'scrub':
      return runScrub(kernels, task);
    case 'scrubPage':
      return runScrubPage(kernels, task);
    case 'hash':
      return runHash(kernels, task);
    default:
      throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `unknown task op ${JSON.stringify((task as { op?: unknown })?.op)}`);
  }
}

/** The ArrayBuffers a result can hand over by transfer instead of copy. */
export function transferablesOf(result: unknown): ArrayBuffer[] {
  if (Array.isArray(result)) return result.flatMap((envelope: TaskEnvelope<unknown>) => (envelope.ok ? transferablesOf(envelope.value) : []));
  if (result && typeof result === 'object') {
    if ('parity' in result && (result as EncodeResult).parity?.buffer instanceof ArrayBuffer) return [(result as EncodeResult).parity.buffer as ArrayBuffer];
    if ('data' in result && (result as ReadResult).data?.buffer instanceof ArrayBuffer) return [(result as ReadResult).data!.buffer as ArrayBuffer];
    if ('rebuilt' in result && (result as ReconstructResult).rebuilt?.buffer instanceof ArrayBuffer) return [(result as ReconstructResult).rebuilt.buffer as ArrayBuffer];
  }
  return [];
}
