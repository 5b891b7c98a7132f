// Runs one kernel task against this thread's kernel instance. The piscina
// worker calls it; so can the main thread (tests, benchmarks, small pools).
// Fragment files are read straight into views of WASM memory: the bytes are
// touched once by the kernel and never copied in JS.
//
// Reads are asynchronous and go through the per-disk read queue
// (disk-gate.ts): the fragments an extent needs are read at once, and a
// thread reads for several tasks at once, so the disks see many reads in
// flight rather than one a thread. The kernel's own memory (regions, and
// the scratch every kernel call uses) is one per thread, so every task that
// uses it holds it for its whole run (withArena); a client's read of a whole
// extent goes to a shared read slot instead and needs it only to reconstruct.
import { closeSync, constants as fsConstants, fstatSync, openSync, read as readCallback, readSync } from 'node:fs';
import { decodeHeader, fragmentPath, headerHashedBytes, headerIdBytes, headerMatches } from '../format/index.js';
import { diskFault, faultsInjected } from '../faults/index.js';
import { diskGate } from './disk-gate.js';
import { Turns } from './turns.js';
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

function readAsync(fd: number, into: Uint8Array, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => readCallback(fd, into, at, length, position, (error, n) => (error ? reject(error) : resolve(n))));
}

/** readFully without blocking the thread. */
async function readFullyAsync(fd: number, into: Uint8Array, position: number): Promise<number> {
  let got = 0;
  while (got < into.length) {
    const n = await readAsync(fd, into, got, into.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** Whether this thread's reads are background work (the scrubber's pool): at each disk they yield to clients' reads. */
let backgroundReads = false;

export function setBackgroundReads(background: boolean): void {
  backgroundReads = background;
}


/**
 * Whether a fragment is in the page cache is told by its first page: read on
 * the thread, it takes a few µs from the cache (4.5 µs median here) and tens
 * from the disk (74 µs at best). A cached fragment is then read on the
 * thread: a copy, which a hop through the libuv threads would cost more than
 * (a warm ec:4+2 get ran at 1.9 GB/s with every read asynchronous against
 * 4.2 GB/s read on the thread, npm run bench:io). One from the disk is read
 * asynchronously, with the other reads in flight beside it.
 */
const PROBE_BYTES = 4096;
const CACHED_BELOW_NS = 30_000n;
/** A disk whose recent reads took longer than this is stalling: not even a page is read from it on the thread. */
const STALLING_MICROS = 20_000;

/**
 * Opens a fragment's file and hands it to `read`, which returns the outcome,
 * holding a place in the queue of the fragment's disk meanwhile. A missing
 * source or file, and errno errors, become outcomes; anything else (a bug,
 * not a bad fragment) is thrown. Nothing waits that need not: with a place
 * free, no injected faults and the bytes in the page cache, the whole read
 * runs without yielding the thread (see readPayload). With `direct` the file
 * is opened past the page cache where its filesystem allows it (see
 * openDirect), and `read` is told whether it was.
 */
async function withFragment(
  source: FragmentSource | null,
  read: (fd: number, source: FragmentSource, direct: boolean) => Promise<ReadOutcome> | ReadOutcome,
  wanted?: () => boolean,
  direct = false,
): Promise<ReadOutcome> {
  if (source === null) return { outcome: { status: 'missing', hash: null }, bytes: 0 };
  const gate = diskGate();
  // A read no longer wanted by the time its disk has a place (its extent was rebuilt without it) is dropped, not made.
  if (!gate.tryTake(source.disk, backgroundReads) && !(await gate.acquire(source.disk, backgroundReads, wanted))) return NOT_READ;
  const at = process.hrtime.bigint();
  try {
    let fd: number;
    let opened = false;
    try {
      // Opened on the thread: a look-up in the directory cache, mostly (the hop to a libuv thread cost more).
      if (direct) ({ fd, direct: opened } = openDirect(source.path, source.disk));
      else fd = openSync(source.path, 'r');
    } catch (error) {
      const errno = (error as NodeJS.ErrnoException).code ?? 'EIO';
      return { outcome: { status: MISSING_ERRNOS.has(errno) ? 'missing' : 'unreadable', hash: null, errno }, bytes: 0 };
    }
    try {
      if (faultsInjected()) await diskFault('read', source.path);
      const outcome = read(fd, source, opened);
      return outcome instanceof Promise ? await outcome : outcome;
    } catch (error) {
      const errno = (error as NodeJS.ErrnoException).code;
      if (typeof errno !== 'string' || !errno.startsWith('E')) throw error;
      return { outcome: { status: 'unreadable', hash: null, errno }, bytes: 0 };
    } finally {
      closeSync(fd);
    }
  } finally {
    gate.release(source.disk, at);
  }
}

/** O_DIRECT where the platform has it (Linux); 0 elsewhere. */
const O_DIRECT: number = (fsConstants as Record<string, number>).O_DIRECT ?? 0;
/** The alignment of direct reads: buffer address, file offset and length (the largest logical block size in use). */
const DIRECT_ALIGN = 4096;
/** Disks (by read-queue place) whose filesystem refused O_DIRECT (tmpfs, some FUSE and network filesystems). */
const directRefused = new Set<number | undefined>();

/**
 * Opens a fragment for a read past the page cache; where the filesystem
 * refuses O_DIRECT (EINVAL) the file is opened as usual, and that disk is
 * not asked again.
 */
function openDirect(path: string, disk: number | undefined): { fd: number; direct: boolean } {
  if (O_DIRECT === 0 || directRefused.has(disk)) return { fd: openSync(path, 'r'), direct: false };
  try {
    return { fd: openSync(path, fsConstants.O_RDONLY | O_DIRECT), direct: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
    directRefused.add(disk);
    return { fd: openSync(path, 'r'), direct: false };
  }
}

/**
 * Reads a file opened with O_DIRECT from its start into `into` (its address
 * and length multiples of DIRECT_ALIGN), as much as the file has: each read
 * but the one that meets the end of the file returns whole blocks, so the
 * next starts aligned.
 */
function readUncached(fd: number, into: Uint8Array): number {
  let got = 0;
  while (got < into.length) {
    const n = readSync(fd, into, got, into.length - got, got);
    got += n;
    if (n === 0 || got % DIRECT_ALIGN !== 0) break;
  }
  return got;
}

/**
 * Reads `into.length` bytes at `position`: on the thread when the first page
 * came from the page cache (see PROBE_BYTES), else without blocking it.
 */
function readFullyAdaptive(fd: number, into: Uint8Array, position: number, disk: number | undefined): number | Promise<number> {
  // The scrubber's threads read on themselves: in their idle I/O class (see kernel-worker), and without a hop
  // through libuv's threads for each fragment. A check reads its fragments one after another either way, and
  // the hop cost more CPU than the copy: 0.3 ms of CPU per 1 MiB ec:4+2 extent against 0.8 (page cache warm).
  if (backgroundReads) return readFully(fd, into, position);
  if (into.length <= PROBE_BYTES || diskGate().recentMicros(disk) >= STALLING_MICROS) return readFullyAsync(fd, into, position);
  // While reads come from the disks, a probe would wait for the disk on the thread: one read in PROBE_EVERY
  // is probed (enough to keep the mode), the rest go straight out.
  if (readingFromDisk() && ++unprobed % PROBE_EVERY !== 0) return readFullyAsync(fd, into, position);
  const started = process.hrtime.bigint();
  const first = readFully(fd, into.subarray(0, PROBE_BYTES), position);
  if (first < PROBE_BYTES) return first;
  const rest = into.subarray(PROBE_BYTES);
  if (process.hrtime.bigint() - started < CACHED_BELOW_NS) return first + readFully(fd, rest, position + PROBE_BYTES);
  lastFromDiskAt = Date.now();
  return readFullyAsync(fd, rest, position + PROBE_BYTES).then((got) => first + got);
}

/** When this thread last read a fragment from the disk rather than the page cache (ms). */
let lastFromDiskAt = 0;
const PROBE_EVERY = 16;
let unprobed = 0;

/**
 * Whether this thread's reads have lately come from the disks. A batch then
 * runs its members at once, so that their reads are in flight together; with
 * everything in the page cache it runs them one after another, each
 * extent's bytes hashed while they are still in the CPU's cache.
 */
function readingFromDisk(): boolean {
  return Date.now() - lastFromDiskAt < 200;
}

/**
 * Reads one payload into `into`; a problem becomes an outcome, never an
 * exception. `check`, if given, is called as soon as the bytes are in
 * (before anything else runs on the thread, while they are in the CPU's cache).
 */
function readPayload(source: FragmentSource | null, into: Uint8Array, check?: (read: ReadOutcome) => void, wanted?: () => boolean): Promise<ReadOutcome> {
  let checked = false;
  const done = (got: number): ReadOutcome => {
    const read: ReadOutcome = { outcome: { status: got < into.length ? 'truncated' : 'ok', hash: null }, bytes: got };
    checked = true;
    check?.(read);
    return read;
  };
  const reading = withFragment(source, (fd, { offset, disk }) => {
    const got = readFullyAdaptive(fd, into, offset, disk);
    return typeof got === 'number' ? done(got) : got.then(done);
  }, wanted);
  if (!check) return reading;
  return reading.then((read) => {
    // A fragment that could not be opened or read is given to `check` too.
    if (!checked) check(read);
    return read;
  });
}

/** The outcome of a read dropped before it was made (see withFragment). */
const NOT_READ: ReadOutcome = Object.freeze({ outcome: Object.freeze({ status: 'missing', hash: null }) as FragmentOutcome, bytes: 0 });

const arena = new Turns();

/**
 * Runs `fn` with this thread's kernel memory to itself: the tasks a thread
 * runs at once take turns here (reads of a task are still in flight
 * together, into its own region).
 */
export function withArena<T>(fn: () => T | Promise<T>): Promise<T> {
  return arena.run(fn);
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

/** Reads every source into its place in the region, all at once; problems become outcomes. */
async function readAll(region: ExtentRegion, fragments: readonly (FragmentSource | null)[]): Promise<{ outcomes: FragmentOutcome[]; bytesRead: number }> {
  const reads = await Promise.all(fragments.map((source, i) => readPayload(source, region.fragment(i))));
  return { outcomes: reads.map((r) => r.outcome), bytesRead: reads.reduce((sum, r) => sum + r.bytes, 0) };
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

async function readAndCheck(kernels: KernelInstance, region: ExtentRegion, fragments: readonly (FragmentSource | null)[]): Promise<{ outcomes: FragmentOutcome[]; bytesRead: number }> {
  const read = await readAll(region, fragments);
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

export function runVerify(kernels: KernelInstance, task: VerifyTask): Promise<VerifyResult> {
  return withArena(() => verify(kernels, task));
}

async function verify(kernels: KernelInstance, task: VerifyTask): Promise<VerifyResult> {
  const count = layoutCount(task.layout);
  checkSources(task.fragments, count, task.fragmentLength);
  const region = kernels.region(count, task.fragmentLength);
  const layout = task.layout;
  if (layout.kind === 'ec' && task.deep) {
    // Read first; run the one-pass deep kernel only when every fragment is readable.
    const { outcomes, bytesRead } = await readAll(region, task.fragments);
    if (outcomes.every((o) => o.status === 'ok')) {
      const deep = kernels.verifyRegion(region, layout.k, layout.m, true);
      classify(outcomes, deep.hashes, task.fragments);
      return { fragments: outcomes, parityConsistent: deep.parityOk!.every(Boolean), bytesRead };
    }
    classify(outcomes, kernels.hashRegion(region), task.fragments);
    return { fragments: outcomes, parityConsistent: null, bytesRead };
  }
  const { outcomes, bytesRead } = await readAndCheck(kernels, region, task.fragments);
  return { fragments: outcomes, parityConsistent: null, bytesRead };
}

export function runReconstruct(kernels: KernelInstance, task: ReconstructTask): Promise<ReconstructResult> {
  return withArena(() => reconstruct(kernels, task));
}

async function reconstruct(kernels: KernelInstance, task: ReconstructTask): Promise<ReconstructResult> {
  const count = layoutCount(task.layout);
  checkSources(task.fragments, count, task.fragmentLength);
  const wanted = task.wanted;
  if (!Array.isArray(wanted) || wanted.some((w) => !Number.isInteger(w) || w < 0 || w >= count) || new Set(wanted).size !== wanted.length) {
    throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `wanted indices must be distinct integers in 0..${count - 1}`);
  }
  const region = kernels.region(count, task.fragmentLength);
  const { outcomes, bytesRead } = await readAndCheck(kernels, region, task.fragments);
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

export async function runRead(kernels: KernelInstance, task: ReadTask): Promise<ReadResult> {
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
    const read = await readIntoSlot(kernels, task);
    if (read) return read;
    // A data fragment failed: straight to reconstruction (not read again here).
    if (read === null) return withArena(() => readThroughRegion(kernels, task, count, undefined));
    // No slot free: the bytes go back in a buffer of their own.
    into = new Uint8Array(new ArrayBuffer(size));
  }
  const out = into;
  return withArena(async () => {
    if (out) {
      const direct = await readDirect(kernels, task, out);
      if (direct) {
        const { verified, ...rest } = direct;
        return { ...rest, data: verified ? out : null };
      }
    }
    return readThroughRegion(kernels, task, count, out);
  });
}

/**
 * Reads the needed fragments where their bytes belong in `out`, the
 * caller's buffer (at least the extent's size; a fragment reaching past it
 * goes through a region), checking each against its checksum. EC data
 * fragments are read all at once; replicas one after another, until one
 * verifies. Returns the outcomes and whether the extent verified (null: a
 * data fragment of an EC extent failed, and only reconstruction can help).
 * Runs with the arena (withArena).
 */
async function readDirect(kernels: KernelInstance, task: ReadTask, out: Uint8Array): Promise<Omit<ReadResult, 'data'> & { verified: boolean } | null> {
  const { layout, fragmentLength: length, size } = task;
  const outcomes: (FragmentOutcome | null)[] = new Array<FragmentOutcome | null>(task.fragments.length).fill(null);
  let bytesRead = 0;
  /** Reads fragment i to `out[start..]` and checks it. */
  const check = async (i: number, start: number): Promise<boolean> => {
    const source = task.fragments[i] ?? null;
    let read: ReadOutcome;
    let ok: boolean;
    if (start + length <= out.length) {
      read = await readPayload(source, out.subarray(start, start + length));
      ok = judge(read.outcome, source, () => kernels.xxh3(out.subarray(start, start + length)));
    } else {
      // A fragment reaching past the end of `out` (zero padding): read and hash it whole in a region, keep its head.
      const region = kernels.region(1, length);
      read = await readPayload(source, region.fragment(0));
      ok = judge(read.outcome, source, () => kernels.hashFragment(region, 0));
      if (ok && start < size) out.set(region.fragment(0).subarray(0, size - start), start);
    }
    bytesRead += read.bytes;
    outcomes[i] = read.outcome;
    return ok;
  };
  if (layout.kind === 'replication') {
    // The first replica that verifies is the extent (its checksum is the extent's); replicas on disks slow lately are tried last.
    const { order } = replicaOrder(task.fragments);
    for (const [attempt, i] of order.entries()) {
      if ((await check(i, 0)) && outcomes[i]!.hash === task.extentHash) return { fragments: outcomes, verified: true, reconstructed: attempt > 0, bytesRead };
    }
    return { fragments: outcomes, verified: false, reconstructed: false, bytesRead };
  }
  // Fragments inside `out` at once; one reaching past it (it takes the region) after them.
  const inside = Array.from({ length: layout.k }, (_, i) => i).filter((i) => (i + 1) * length <= out.length);
  const oks = await Promise.all(inside.map((i) => check(i, i * length)));
  if (!oks.every(Boolean)) return null;
  for (let i = inside.length; i < layout.k; i++) if (!(await check(i, i * length))) return null;
  return { fragments: outcomes, verified: true, reconstructed: false, bytesRead };
}

/**
 * A client's read of a whole extent into a shared read slot of this thread,
 * hashed in place; undefined when no slot is free, null when it could not
 * be verified this way (the slot is then freed and the general path
 * reconstructs). Under EC a data fragment that fails, or is still not back
 * hedgeAfterMs after its read began (a slow disk), is read around: parity
 * fragments go to a second slot and the extent is reconstructed from the
 * first K that verify, as a tail-tolerant read does. A late read still
 * lands in memory no one else holds: its slot is freed only once it is back.
 */
async function readIntoSlot(kernels: KernelInstance, task: ReadTask): Promise<ReadResult | null | undefined> {
  const slots = threadReadSlots(kernels.variant);
  if (!slots) return undefined;
  const { layout, fragmentLength: length, size } = task;
  const span = layout.kind === 'ec' ? layout.k * length : length;
  const slot = slots.acquire(span);
  if (slot < 0) return undefined;
  if (layout.kind === 'ec') return readEcIntoSlot(kernels, task, layout.k, layout.m, slots, slot, span);
  return readReplicasIntoSlot(task, slots, slot, span, size);
}

/**
 * Replicas into read slots, in replicaOrder: the next one is read when the
 * one before fails, or (a hedge) when it is not back hedgeAfterMs after it
 * was asked for, into a slot of its own; the first replica that verifies is
 * the extent, and its slot is handed over. Slots still being read into are
 * freed once those reads are back.
 */
async function readReplicasIntoSlot(task: ReadTask, slots: Slots, first: number, span: number, size: number): Promise<ReadResult> {
  const { fragments } = task;
  const gate = diskGate();
  const hedgeAfterMs = gate.hedgeAfterMs;
  const { order, probe } = replicaOrder(fragments);
  const outcomes: (FragmentOutcome | null)[] = new Array<FragmentOutcome | null>(fragments.length).fill(null);
  const held = [first];
  const reads: Promise<void>[] = [];
  let bytesRead = 0;
  let next = 0;
  let pending = 0;
  let lastStart = 0;
  let winner = -1;
  let winnerAttempt = 0;
  // The first replica put last, its disk slow lately: this read goes around it.
  let hedged = order[0] !== 0;
  let finished = false;
  const waiter = new ReadWaiter();
  const start = (s: number): void => {
    const attempt = next++;
    const i = order[attempt]!;
    const source = fragments[i] ?? null;
    pending++;
    lastStart = Date.now();
    reads.push(readPayload(source, slots.view(s, 0, span), (read) => {
      if (finished) return;
      bytesRead += read.bytes;
      outcomes[i] = read.outcome;
      if (winner < 0 && judge(read.outcome, source, () => slots.hash(s, 0, span)) && read.outcome.hash === task.extentHash) {
        winner = s;
        winnerAttempt = attempt;
      }
    }, () => !finished).then(() => {
      pending--;
      waiter.notify();
    }));
  };
  start(first);
  if (probe && next < order.length) {
    // A probe of a slow disk: the next replica is read beside it at once (a slot of its own).
    const s = slots.acquire(span);
    if (s >= 0) {
      held.push(s);
      hedged = true;
      start(s);
    }
  }
  while (winner < 0) {
    const late = hedgeAfterMs > 0 && Date.now() - lastStart >= hedgeAfterMs;
    if (next < order.length && (pending === 0 || late)) {
      // A slot of its own for the next replica; with none free, the last one's again once nothing is read into it.
      let s = slots.acquire(span);
      if (s >= 0) held.push(s);
      else if (pending === 0) s = held[held.length - 1]!;
      if (s >= 0) {
        if (pending > 0) hedged = true;
        start(s);
        continue;
      }
    }
    if (pending === 0) break;
    await waiter.until(hedgeAfterMs > 0 && next < order.length ? lastStart + hedgeAfterMs - Date.now() : null);
  }
  finished = true;
  if (hedged) gate.noteHedge();
  const others = held.filter((s) => s !== winner);
  void Promise.allSettled(reads).then(() => others.forEach((s) => slots.release(s)));
  if (winner < 0) return { fragments: outcomes, data: null, reconstructed: false, bytesRead };
  return { fragments: outcomes, data: null, slot: slots.ref(winner, size), reconstructed: winnerAttempt > 0, bytesRead };
}

type Slots = NonNullable<ReturnType<typeof threadReadSlots>>;

/** A wait for the next of a task's reads to come back, or for `ms` to pass (null: no limit), whichever is first. */
class ReadWaiter {
  private wake: (() => void) | null = null;

  /** Called by each read as it comes back. */
  readonly notify = (): void => this.wake?.();

  until(ms: number | null): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = ms === null ? null : setTimeout(() => this.wake?.(), Math.max(1, ms));
      this.wake = () => {
        if (timer) clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }
}
type FragmentState = 'idle' | 'pending' | 'ok' | 'bad';

async function readEcIntoSlot(kernels: KernelInstance, task: ReadTask, k: number, m: number, slots: Slots, slot: number, span: number): Promise<ReadResult | null> {
  const { fragmentLength: length, size, fragments } = task;
  const gate = diskGate();
  const hedgeAfterMs = gate.hedgeAfterMs;
  const state: FragmentState[] = new Array<FragmentState>(k + m).fill('idle');
  const startedAt: number[] = new Array<number>(k + m).fill(Infinity);
  const outcomes: (FragmentOutcome | null)[] = new Array<FragmentOutcome | null>(k + m).fill(null);
  const reads: Promise<void>[] = [];
  let paritySlot = -1;
  let bytesRead = 0;
  let hedged = false;
  let finished = false;
  const waiter = new ReadWaiter();
  const place = (i: number): [number, number] => (i < k ? [slot, i * length] : [paritySlot, (i - k) * length]);
  const start = (i: number): void => {
    state[i] = 'pending';
    const source = fragments[i] ?? null;
    const [s, at] = place(i);
    // The clock runs from when the read was asked for: a read queued behind a stalled disk's reads is as late as they are.
    startedAt[i] = Date.now();
    reads.push(readPayload(source, slots.view(s, at, length), (read) => {
      if (finished) return; // a late read: the extent was answered without it
      bytesRead += read.bytes;
      outcomes[i] = read.outcome;
      state[i] = judge(read.outcome, source, () => slots.hash(s, at, length)) ? 'ok' : 'bad';
    }, () => !finished).then(waiter.notify));
  };
  /** Starts the next parity read; false when there is none left (or no slot to read it into). */
  const startParity = (): boolean => {
    // (Parity fragments go to a slot of K fragments' room: with M > K, only the first K of them.)
    const next = state.findIndex((st, i) => i >= k && i < 2 * k && st === 'idle' && fragments[i]);
    if (next < 0) return false;
    if (paritySlot < 0 && (paritySlot = slots.acquire(span)) < 0) return false;
    start(next);
    return true;
  };
  // A data fragment on a disk that has been slow lately is read around from the start (a few reads
  // still go to it as well, so that the disk's recent time stays known).
  const slow = slowDisks(fragments, k, m);
  for (let i = 0; i < k; i++) {
    if (!slow.has(i)) start(i);
    else if (Math.random() < PROBE_SLOW) {
      // A probe of the slow disk: its read goes out, and a parity read beside it, so the extent waits for neither.
      start(i);
      if (startParity()) hedged = true;
    } else if (startParity()) hedged = true;
    else start(i);
  }
  let dataOk = false;
  for (;;) {
    const ok = state.filter((st) => st === 'ok').length;
    dataOk = state.slice(0, k).every((st) => st === 'ok');
    if (dataOk || ok >= k) break;
    const now = Date.now();
    const pending = state.map((st, i) => (st === 'pending' ? i : -1)).filter((i) => i >= 0);
    const timely = pending.filter((i) => !(hedgeAfterMs > 0 && now - startedAt[i]! >= hedgeAfterMs));
    if (ok + timely.length < k) {
      // Short of K fragments still on time: read another parity fragment, if any is left.
      if (startParity()) {
        if (timely.length < pending.length) hedged = true;
        continue;
      }
      if (pending.length === 0) break;
    }
    const next = Math.min(...timely.map((i) => startedAt[i]! + hedgeAfterMs)) - now;
    await waiter.until(hedgeAfterMs > 0 && Number.isFinite(next) ? next : null);
  }
  // From here no late read changes what this read answers; reads still waiting for their disk are dropped.
  finished = true;
  if (hedged) gate.noteHedge();
  // Slots still being read into are freed once those reads are back; one handed out is freed by its reader.
  const settled = Promise.allSettled(reads);
  const freeLater = (...held: number[]) => void settled.then(() => held.filter((h) => h >= 0).forEach((h) => slots.release(h)));
  const ok = state.filter((st) => st === 'ok').length;
  if (dataOk) {
    freeLater(paritySlot);
    return { fragments: outcomes, data: null, slot: slots.ref(slot, size), reconstructed: false, bytesRead };
  }
  // Not enough fragments verified: the general path reads and reconstructs (late reads land in these slots, not its region).
  if (ok < k) {
    freeLater(slot, paritySlot);
    return null;
  }
  // The data fragments to rebuild. When no read into the slot is still out (those skipped up front, on a
  // disk slow lately, and those that failed), they are rebuilt into the slot itself, each checked against
  // its own checksum, and the slot is handed over as for a plain read; else the extent comes back in a
  // buffer of its own and the slot waits for the late reads.
  const rebuild = Array.from({ length: k }, (_, i) => i).filter((i) => state[i] !== 'ok');
  const inSlot = rebuild.every((i) => state[i] !== 'pending' && fragments[i]);
  const data = await withArena(() => {
    const region = kernels.region(k + m, length);
    state.forEach((st, i) => {
      if (st !== 'ok') return;
      const [s, at] = place(i);
      region.fragment(i).set(slots.view(s, at, length));
    });
    kernels.reconstructRegion(region, k, m, state.map((st) => st === 'ok'));
    if (inSlot) {
      // Every other data fragment verified where it lies; each rebuilt one must have its catalogued checksum.
      if (!rebuild.every((i) => kernels.hashFragment(region, i) === fragments[i]!.expected)) return null;
      for (const i of rebuild) slots.view(slot, i * length, length).set(region.fragment(i));
      return 'slot' as const;
    }
    // Rebuilt bytes are checked end to end (stride == length, a multiple of 16: the data fragments are the extent in order).
    if (kernels.hashPrefix(region, size) !== task.extentHash) return null;
    const bytes = new Uint8Array(new ArrayBuffer(size));
    bytes.set(region.all().subarray(0, size));
    return bytes;
  });
  if (data === 'slot') {
    freeLater(paritySlot);
    return { fragments: outcomes, data: null, slot: slots.ref(slot, size), reconstructed: true, bytesRead };
  }
  freeLater(slot, paritySlot);
  return data ? { fragments: outcomes, data, reconstructed: true, bytesRead } : null;
}

/**
 * Data fragments (by index) whose disks have been slow lately: recent read
 * time over four times the median of the extent's disks and over half the
 * hedge deadline, where a parity fragment could stand in.
 */
function slowDisks(fragments: readonly (FragmentSource | null)[], k: number, m: number): ReadonlySet<number> {
  const gate = diskGate();
  const line = (gate.hedgeAfterMs * 1000) / 2;
  // The common case, every disk answering well within the deadline, costs K loads and nothing more.
  let worst = 0;
  for (let i = 0; i < k; i++) worst = Math.max(worst, gate.recentMicros(fragments[i]?.disk));
  if (line <= 0 || worst <= line) return NONE_SLOW;
  const recent = fragments.map((f) => (f ? gate.recentMicros(f.disk) : 0));
  const median = [...recent].sort((a, b) => a - b)[Math.floor(recent.length / 2)]!;
  const slow = new Set<number>();
  for (let i = 0; i < k && slow.size < m; i++) {
    if (recent[i]! > Math.max(4 * median, line)) slow.add(i);
  }
  return slow;
}

const NONE_SLOW: ReadonlySet<number> = new Set();
/** The share of reads that still go to a disk slow lately: enough to see it recover. */
const PROBE_SLOW = 1 / 32;

/**
 * Replica indices in the order to try them: as they are, but those on disks
 * slow lately last; or, for the odd probe of a slow disk (to see it
 * recover), as they are with `probe` set: the caller then reads the next
 * replica beside it from the start, so that the probe costs no wait.
 */
function replicaOrder(fragments: readonly (FragmentSource | null)[]): { order: number[]; probe: boolean } {
  const indices = fragments.map((_, i) => i);
  const slow = slowDisks(fragments, fragments.length, fragments.length - 1);
  if (slow.size === 0) return { order: indices, probe: false };
  if (Math.random() < PROBE_SLOW) return { order: indices, probe: slow.has(0) };
  return { order: [...indices.filter((i) => !slow.has(i)), ...indices.filter((i) => slow.has(i))], probe: false };
}

async function readThroughRegion(kernels: KernelInstance, task: ReadTask, count: number, into: Uint8Array | undefined): Promise<ReadResult> {
  const { layout, fragmentLength: length, size } = task;
  const region = kernels.region(count, length);
  const outcomes: (FragmentOutcome | null)[] = new Array<FragmentOutcome | null>(count).fill(null);
  let bytesRead = 0;
  const tryRead = async (i: number): Promise<boolean> => {
    const source = task.fragments[i] ?? null;
    const { outcome, bytes } = await readPayload(source, region.fragment(i));
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
      if ((await tryRead(i)) && outcomes[i]!.hash === task.extentHash) return { fragments: outcomes, data: copyOut(region.fragment(i)), reconstructed: i > 0, bytesRead };
    }
    return { fragments: outcomes, data: null, reconstructed: false, bytesRead };
  }
  // The data fragments at once, then as many parity fragments as are short, until K verify or none is left.
  let good = (await Promise.all(Array.from({ length: layout.k }, (_, i) => tryRead(i)))).filter(Boolean).length;
  const reconstructed = good < layout.k;
  let next = layout.k;
  while (good < layout.k && next < count) {
    const batch = Array.from({ length: Math.min(layout.k - good, count - next) }, (_, j) => next + j);
    next += batch.length;
    good += (await Promise.all(batch.map(tryRead))).filter(Boolean).length;
  }
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

export function runScrub(kernels: KernelInstance, task: ScrubTask): Promise<ScrubResult> {
  return withArena(() => scrub(kernels, task));
}

/** One extent's scrub check; the fragments one after another (the scrubber stays behind clients at the disks). */
async function scrub(kernels: KernelInstance, task: ScrubTask): Promise<ScrubResult> {
  const count = task.fragments?.length ?? 0;
  checkSources(task.fragments, count, task.fragmentLength);
  if (!Number.isInteger(task.headerLength) || task.headerLength < 16 || task.headerLength > 4096) {
    throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `header length ${String(task.headerLength)} is out of range`);
  }
  const header = Buffer.allocUnsafe(task.headerLength);
  const hash = (b: Uint8Array) => kernels.xxh3(b);
  const ids = headerIdBytes(task.poolId, task.extentId);
  let bytesRead = 0;
  const outcomes: ScrubOutcome[] = [];
  for (const [index, source] of task.fragments.entries()) {
    let bytes = 0;
    // Past the page cache only where one read takes the whole file (the other paths read at unaligned offsets).
    const directWanted = task.direct === true && !task.light && source !== null && source.offset + task.fragmentLength <= SCRUB_WHOLE_READ_BYTES && source.offset >= task.headerLength;
    const { outcome } = await withFragment(source, async (fd, src, direct) => {
      // The hash of the payload bytes found goes with a bad outcome: the journal records what was there.
      const status = (s: ScrubOutcome['status'], found: bigint | null = null): ReadOutcome => ({ outcome: { status: s as never, hash: s === 'ok' ? null : found }, bytes });
      const end = src.offset + task.fragmentLength;
      let payloadHash: bigint | null;
      let partialHash: bigint | null = null;
      let headerGot: number;
      if (task.light) {
        // Presence, size and header: the payload is not read (nor its checksum known: the header is checked against the catalogue's).
        headerGot = await readFullyAdaptive(fd, header, 0, src.disk);
        bytes = headerGot;
        payloadHash = fstatSync(fd).size >= end ? src.expected : null;
      } else if (end <= SCRUB_WHOLE_READ_BYTES && src.offset >= task.headerLength) {
        // One read of header and payload into WASM memory; the payload is hashed where it landed. A direct
        // read lands at an aligned place in the region and asks for whole blocks (the file ends before).
        const span = direct ? Math.ceil(end / DIRECT_ALIGN) * DIRECT_ALIGN : end;
        const region = kernels.region(1, direct ? span + DIRECT_ALIGN : end);
        const whole = region.fragment(0);
        const skip = direct ? (DIRECT_ALIGN - (whole.byteOffset % DIRECT_ALIGN)) % DIRECT_ALIGN : 0;
        const view = whole.subarray(skip, skip + end);
        const got = direct ? Math.min(end, readUncached(fd, whole.subarray(skip, skip + span))) : await readFullyAdaptive(fd, view, 0, src.disk);
        bytes = got;
        headerGot = Math.min(got, task.headerLength);
        payloadHash = got === end ? kernels.hashRange(region, skip + src.offset, task.fragmentLength) : null;
        // A short file: what there is of its payload, for the journal.
        if (payloadHash === null && got > src.offset) partialHash = kernels.hashRange(region, skip + src.offset, got - src.offset);
        // The common case: the header is exactly the expected one, checked where it lies (no decoding).
        const expected = { ids, index, length: task.headerLength, payloadLength: task.fragmentLength, payloadChecksum: src.expected };
        if (payloadHash !== null && src.offset === task.headerLength
          && headerMatches(view, expected, kernels.hashRange(region, skip, headerHashedBytes(task.headerLength)))) {
          return status(payloadHash === src.expected ? 'ok' : 'checksum_mismatch', payloadHash);
        }
        header.set(view.subarray(0, headerGot));
      } else {
        headerGot = await readFullyAdaptive(fd, header, 0, src.disk);
        bytes = headerGot;
        payloadHash = null;
        if (headerGot === header.length && fstatSync(fd).size >= end) {
          const filled = kernels.xxh3Filling(task.fragmentLength, (window, at) => readFully(fd, window, src.offset + at));
          bytes += filled.got;
          payloadHash = filled.hash;
        }
      }
      if (headerGot < header.length) return status('truncated', partialHash);
      // The header is decoded after the payload hash: decoding hashes in the same WASM scratch memory.
      const decoded = decodeHeader(header, hash);
      if ('problem' in decoded) return status('header_invalid', payloadHash ?? partialHash);
      const h = decoded.header;
      if (decoded.length !== task.headerLength || h.payloadLength !== task.fragmentLength || h.payloadChecksum !== src.expected) {
        // A well-formed header that describes other bytes: another extent's fragment, or another index of this one.
        return status(h.extentId !== task.extentId || h.index !== index || h.poolId !== task.poolId ? 'misplaced' : 'header_invalid', payloadHash ?? partialHash);
      }
      if (h.extentId !== task.extentId || h.index !== index || h.poolId !== task.poolId) return status('misplaced', payloadHash);
      if (payloadHash === null) return status('truncated', partialHash);
      return status(payloadHash === src.expected ? 'ok' : 'checksum_mismatch', payloadHash);
    }, undefined, directWanted);
    bytesRead += bytes;
    const result: ScrubOutcome = { status: outcome.status, bytes };
    if (outcome.errno) result.errno = outcome.errno;
    if (outcome.hash !== null && !task.light) result.hash = outcome.hash;
    outcomes.push(result);
  }
  return { fragments: outcomes, bytesRead };
}

const SCRUB_STATUS_CODES = new Map(SCRUB_STATUSES.map((s, i) => [s, i]));

/** A packed batch of scrub checks (see ScrubPageTask); each extent succeeds or fails on its own. */
export function runScrubPage(kernels: KernelInstance, task: ScrubPageTask): Promise<ScrubPageResult> {
  return withArena(() => scrubPage(kernels, task));
}

async function scrubPage(kernels: KernelInstance, task: ScrubPageTask): Promise<ScrubPageResult> {
  const { extentIds, shape, disks, expected, diskPaths, diskGates } = task;
  const fragmentCount = disks?.length ?? -1;
  if (!Array.isArray(extentIds) || !Array.isArray(diskPaths) || !(shape instanceof Uint32Array) || !(disks instanceof Int32Array)
    || !(expected instanceof BigUint64Array) || shape.length !== extentIds.length * 3 || expected.length !== fragmentCount || extentIds.length > MAX_BATCH) {
    throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `a scrub page holds 0..${MAX_BATCH} extents with a shape and a disk and checksum per fragment`);
  }
  const result: ScrubPageResult = { status: new Uint8Array(fragmentCount), bytes: new Float64Array(fragmentCount), errnos: [], observed: [], errors: [] };
  let at = 0;
  for (const [e, extentId] of extentIds.entries()) {
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
        fragments.push(path === undefined ? null : { path: fragmentPath(path, extentId, i), offset: headerLength, expected: expected[first + i]!, disk: diskGates?.[disk] });
      }
      const checked = await scrub(kernels, { op: 'scrub', poolId: task.poolId, extentId, fragmentLength: shape[e * 3]!, headerLength, fragments, light: task.light === true, direct: task.direct === true });
      checked.fragments.forEach((o, i) => {
        result.status[first + i] = SCRUB_STATUS_CODES.get(o.status)!;
        result.bytes[first + i] = o.bytes;
        if (o.errno) result.errnos.push([first + i, o.errno]);
        if (o.hash !== undefined) result.observed.push([first + i, o.hash]);
      });
    } catch (error) {
      result.errors.push([e, serializeError(error)]);
    }
  }
  return result;
}

export function runHash(kernels: KernelInstance, task: HashTask): bigint {
  return kernels.xxh3(task.data);
}

type SingleResult = EncodeResult | VerifyResult | ReconstructResult | ReadResult | ScrubResult | ScrubPageResult | bigint;

const MAX_BATCH = 256;

/** The members of a batch, at once or one after another (see readingFromDisk); one outcome each, in order. */
export async function runBatch(kernels: KernelInstance, task: BatchTask): Promise<TaskEnvelope<SingleResult>[]> {
  if (!Array.isArray(task.tasks) || task.tasks.length > MAX_BATCH) {
    throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', `a batch holds 0..${MAX_BATCH} tasks`);
  }
  const one = async (member: SingleTask): Promise<TaskEnvelope<SingleResult>> => {
    try {
      if ((member as KernelTask)?.op === 'batch') throw new DfsError('DFS_ERR_KERNEL_FRAGMENT_SHAPE', 'batches do not nest');
      return { ok: true, value: await runSingle(kernels, member) };
    } catch (error) {
      return { ok: false, error: serializeError(error) };
    }
  };
  const results: TaskEnvelope<SingleResult>[] = [];
  for (let i = 0; i < task.tasks.length; i++) {
    if (readingFromDisk()) {
      results.push(...(await Promise.all(task.tasks.slice(i).map(one))));
      break;
    }
    results.push(await one(task.tasks[i]!));
  }
  return results;
}

const cachedTasks = new Turns();

/**
 * Runs a task. The tasks a thread holds at once (piscina hands it two) run
 * together while reads come from the disks, so that their reads are in
 * flight together, and one after another while they come from the page
 * cache, each task's bytes hashed while they are in the CPU's cache.
 */
export function runKernelTask(kernels: KernelInstance, task: KernelTask): Promise<SingleResult | TaskEnvelope<SingleResult>[]> {
  const run = (): Promise<SingleResult | TaskEnvelope<SingleResult>[]> => (task?.op === 'batch' ? runBatch(kernels, task) : runSingle(kernels, task));
  return readingFromDisk() ? run() : cachedTasks.run(run);
}

async function runSingle(kernels: KernelInstance, task: SingleTask): Promise<SingleResult> {
  switch (task?.op) {
    case 'encode':
      return withArena(() => runEncode(kernels, task));
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
      return withArena(() => runHash(kernels, task));
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
