// Read slots: a verified extent handed from a worker to the main thread
// without a copy.
//
// The hash runs in WASM memory. A read into a buffer of the caller's (moved
// to the worker and back) must therefore pass the bytes through WASM memory
// a second time to hash them. Here each thread that reads keeps a second
// kernel instance whose linear memory is shared (a SharedArrayBuffer): a
// read lands in one of its slots and is hashed where it lies, and the main
// thread reads the bytes from a view of that same memory. Measured in one
// thread here, reading and hashing a 1 MiB replica cost 120–146 µs in WASM
// memory against 163–194 µs read outside it and hashed through the window.
//
//   shared memory: [kernel statics][control][slot 0][slot 1] … [slot N-1]
//   control (Int32): ACK, then one word per slot: 0 free, 1 held
//
// Protocol, with Atomics on the control words:
// - a worker takes a free slot (0 → 1), reads and hashes there, and answers
//   with a SlotRef; it sends its SharedArrayBuffer along until the main
//   thread has set ACK (it holds the memory);
// - the main thread views the slot and, when its consumer is done with the
//   bytes, frees it (1 → 0);
// - a worker with no free slot (many reads at once) answers the old way,
//   in a transferred buffer: slower, never wrong.
// The main thread forgets a memory (so that a worker gone idle can be freed)
// only when no slot of it is held, clearing ACK first: a worker that takes a
// slot afterwards sees ACK clear and sends its memory again.
import { threadId } from 'node:worker_threads';
import { DfsError } from '../errors.js';
import { instantiate, type KernelExports, type KernelVariant } from './loader.js';

const PAGE_BYTES = 65536;
const SLOT_ALIGN = 65536;
/** Slots per thread: a read of an object keeps up to 16 extents in flight and its consumer holds one more; a thread with none free answers in a transferred buffer. */
export const READ_SLOTS = 32;
const ACK = 0;
const CONTROL_WORDS = 1 + READ_SLOTS;

/** Slots held in a memory, by its control words. */
function heldIn(control: Int32Array): number {
  let held = 0;
  for (let slot = 0; slot < READ_SLOTS; slot++) held += Atomics.load(control, 1 + slot);
  return held;
}

/** Where a worker left a verified extent. */
export interface SlotRef {
  /** The memory's id (random per thread and instance). */
  id: number;
  /** The thread that owns the memory (its worker threadId). */
  thread: number;
  /** The memory itself, until the receiving thread has acknowledged it. */
  memory?: SharedArrayBuffer;
  /** Byte offset of the control words in the memory. */
  control: number;
  slot: number;
  /** Byte offset of the slot in the memory, and the extent's length. */
  offset: number;
  length: number;
}

/** One thread's shared kernel instance and its slots. */
export class ReadSlots {
  readonly id = Math.floor(Math.random() * 2 ** 52);
  private readonly wasm: KernelExports;
  private readonly control: Int32Array;
  private readonly controlAt: number;
  private readonly first: number;
  private slotBytes = 0;
  private bytes: Uint8Array;

  constructor(variant: KernelVariant) {
    this.wasm = instantiate(variant, true);
    this.controlAt = Math.ceil(this.wasm.heapBase() / 64) * 64;
    this.control = new Int32Array(this.wasm.memory.buffer, this.controlAt, CONTROL_WORDS);
    this.first = Math.ceil((this.controlAt + CONTROL_WORDS * 4) / SLOT_ALIGN) * SLOT_ALIGN;
    this.bytes = new Uint8Array(this.wasm.memory.buffer);
  }

  /**
   * Takes a free slot of at least `bytes` bytes, or -1. The first call sizes
   * every slot; a larger request re-sizes them only while none is held.
   */
  acquire(bytes: number): number {
    if (bytes > this.slotBytes) {
      if (heldIn(this.control) > 0) return -1;
      this.layout(Math.ceil(bytes / SLOT_ALIGN) * SLOT_ALIGN);
    }
    for (let slot = 0; slot < READ_SLOTS; slot++) {
      if (Atomics.compareExchange(this.control, 1 + slot, 0, 1) === 0) return slot;
    }
    return -1;
  }

  /** Frees a slot this thread took and will not hand over (its read failed). */
  release(slot: number): void {
    Atomics.store(this.control, 1 + slot, 0);
  }

  /** A view of `length` bytes of the slot from `start`, to read a file into. */
  view(slot: number, start: number, length: number): Uint8Array {
    const at = this.offset(slot) + start;
    return this.bytes.subarray(at, at + length);
  }

  /** XXH3-64 of `length` bytes of the slot from `start`, hashed where they lie. */
  hash(slot: number, start: number, length: number): bigint {
    return BigInt.asUintN(64, this.wasm.xxh3_64(this.offset(slot) + start, length));
  }

  /** What the receiving thread needs to find the slot's first `length` bytes. */
  ref(slot: number, length: number): SlotRef {
    const ref: SlotRef = { id: this.id, thread: threadId, control: this.controlAt, slot, offset: this.offset(slot), length };
    if (Atomics.load(this.control, ACK) === 0) ref.memory = this.wasm.memory.buffer as unknown as SharedArrayBuffer;
    return ref;
  }

  private offset(slot: number): number {
    return this.first + slot * this.slotBytes;
  }

  private layout(slotBytes: number): void {
    const needed = this.first + READ_SLOTS * slotBytes;
    const have = this.wasm.memory.buffer.byteLength;
    if (needed > have) {
      this.wasm.memory.grow(Math.ceil((needed - have) / PAGE_BYTES));
      // The receiving thread's SharedArrayBuffer has the old length: send the memory again.
      Atomics.store(this.control, ACK, 0);
    }
    this.slotBytes = slotBytes;
    this.bytes = new Uint8Array(this.wasm.memory.buffer);
  }
}

const threadSlots = new Map<KernelVariant, ReadSlots | null>();

/** The calling thread's read slots on `variant`, or null where shared WASM memory is not available. */
export function threadReadSlots(variant: KernelVariant): ReadSlots | null {
  let slots = threadSlots.get(variant);
  if (slots === undefined) {
    try {
      slots = new ReadSlots(variant);
    } catch {
      slots = null; // no shared build, or no shared memory here: reads take transferred buffers
    }
    threadSlots.set(variant, slots);
  }
  return slots;
}

// ---- the receiving side

interface Held {
  thread: number;
  memory: SharedArrayBuffer;
  control: Int32Array;
  bytes: Uint8Array;
  usedAt: number;
}

const memories = new Map<number, Held>();
/** Memories not used for this long, with no slot held, are forgotten (their worker may be gone). */
const FORGET_AFTER_MS = 60_000;
let sweeper: NodeJS.Timeout | null = null;

function sweep(): void {
  const now = Date.now();
  for (const [id, held] of memories) {
    if (now - held.usedAt < FORGET_AFTER_MS) continue;
    // ACK first: a slot taken from now on comes with its memory again.
    Atomics.store(held.control, ACK, 0);
    if (heldIn(held.control) > 0) Atomics.store(held.control, ACK, 1);
    else memories.delete(id);
  }
  if (memories.size === 0 && sweeper) {
    clearInterval(sweeper);
    sweeper = null;
  }
}

/**
 * Forgets the memories of a worker thread that has stopped. A read it still
 * had out when it stopped (a late one, see task-runner) never frees its
 * slot: kept, the memory would count as held and never be let go. Slots the
 * main thread still holds stay valid (their views keep the memory alive).
 */
export function forgetThread(thread: number): void {
  for (const [id, held] of memories) if (held.thread === thread) memories.delete(id);
}

/** Slots held across the memories this thread knows: taken by a worker and not yet released (for tests). */
export function heldSlots(): number {
  let held = 0;
  for (const { control } of memories.values()) held += heldIn(control);
  return held;
}

/**
 * The bytes a SlotRef names, as a view of the worker's memory, and the
 * function that frees the slot: call it once the bytes are no longer needed
 * (the worker will write over them).
 */
export function claimSlot(ref: SlotRef): { data: Uint8Array; release: () => void } {
  let held = memories.get(ref.id);
  if (ref.memory && (!held || held.memory.byteLength < ref.memory.byteLength)) {
    held = { thread: ref.thread, memory: ref.memory, control: new Int32Array(ref.memory, ref.control, CONTROL_WORDS), bytes: new Uint8Array(ref.memory), usedAt: 0 };
    memories.set(ref.id, held);
    Atomics.store(held.control, ACK, 1);
    sweeper ??= setInterval(sweep, FORGET_AFTER_MS / 2).unref();
  }
  if (!held) throw new DfsError('DFS_ERR_INTERNAL_UNEXPECTED', `read slot ${ref.slot} of an unknown memory`);
  held.usedAt = Date.now();
  const control = held.control;
  let freed = false;
  return {
    data: held.bytes.subarray(ref.offset, ref.offset + ref.length),
    release: () => {
      if (freed) return;
      freed = true;
      Atomics.store(control, 1 + ref.slot, 0);
    },
  };
}
