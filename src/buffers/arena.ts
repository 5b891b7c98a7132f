// The engine's buffer memory: one SharedArrayBuffer, allocated once when the
// engine opens and reused for its whole life, carved into blocks by a buddy
// allocator. Every path that moves extent bytes through the worker pool (put,
// change-policy, repair, rebuild, drain) leases its buffers here.
//
// Why one arena and not a buffer per request: a SharedArrayBuffer's memory
// is freed only when every isolate that saw it has collected it, and glibc
// serves a freed 1.5 MiB block's successor from its heap rather than mmap
// (its mmap threshold rises to the size of the last freed chunk), so fresh
// buffers per request grew the daemon by about half a megabyte per small PUT
// and never gave it back. The arena's pages are touched once and stay: its
// size is the bound.
//
// Blocks are powers of two from MIN_BLOCK up; a request takes the smallest
// block that holds it (a 4 KiB object's ec:4+2 buffer takes 8 KiB, a whole
// 1 MiB extent's 1.5 MiB takes 2 MiB). The arena is cut into the largest
// aligned power-of-two blocks that fit, so any size of arena works; a freed
// block merges with its buddy when both are free.
//
// Leases are granted in order of request (FIFO): a large request is never
// starved by a stream of small ones. `acquire` of several sizes takes them
// all at once or waits for all, so that a caller never holds half of what it
// needs while waiting for the rest (two such callers could wait for each
// other for ever).
import { DfsError } from '../errors.js';

export const MIN_BLOCK = 4096;

export interface Lease {
  /** A view of exactly the requested bytes; its contents are whatever the last holder left. */
  readonly bytes: Uint8Array;
  /** The block's size (what the lease holds of the budget). */
  readonly blockBytes: number;
  /** Gives the block back; a second call does nothing. */
  release(): void;
}

export interface ArenaStats {
  /** The arena's size: memory.bufferBytes rounded down to whole blocks. */
  budgetBytes: number;
  inUseBytes: number;
  freeBytes: number;
  /** Requested bytes of the leases held (in use minus rounding up to blocks). */
  requestedBytes: number;
  leases: number;
  /** Requests waiting for memory now. */
  waiting: number;
  /** Requests that had to wait, since the engine opened. */
  waits: number;
  waitSeconds: number;
  /** The largest single lease the arena can grant. */
  largestBlock: number;
}

interface Waiter {
  sizes: number[];
  resolve: (leases: Lease[]) => void;
  since: bigint;
}

function orderOf(bytes: number): number {
  let order = 0;
  while (MIN_BLOCK * 2 ** order < bytes) order++;
  return order;
}

export class BufferArena {
  readonly memory: SharedArrayBuffer;
  /** free[order] = offsets of free blocks of MIN_BLOCK × 2^order bytes. */
  private readonly free: Set<number>[] = [];
  private readonly waiters: Waiter[] = [];
  private inUse = 0;
  private requested = 0;
  private leases = 0;
  private waits = 0;
  private waitNs = 0n;
  readonly largestBlock: number;

  constructor(budgetBytes: number) {
    const blocks = Math.floor(budgetBytes / MIN_BLOCK);
    if (!Number.isInteger(budgetBytes) || blocks < 1) throw new RangeError(`memory.bufferBytes must be at least ${MIN_BLOCK}`);
    this.memory = new SharedArrayBuffer(blocks * MIN_BLOCK);
    let offset = 0;
    let largest = 0;
    // Binary decomposition: the largest power-of-two block first, each aligned to its size.
    for (let order = Math.floor(Math.log2(blocks)); order >= 0; order--) {
      this.free[order] = new Set();
      const size = MIN_BLOCK * 2 ** order;
      if (this.memory.byteLength - offset >= size) {
        this.free[order]!.add(offset);
        offset += size;
        largest = Math.max(largest, size);
      }
    }
    this.largestBlock = largest;
  }

  /**
   * Touches every page now, so that the arena is resident from the start:
   * a daemon's footprint is then known when it starts and does not creep
   * up as requests reach blocks no request used before.
   */
  prefault(): void {
    const pages = new Uint8Array(this.memory);
    for (let i = 0; i < pages.length; i += MIN_BLOCK) pages[i] = 0;
  }

  get budgetBytes(): number {
    return this.memory.byteLength;
  }

  /** Whether a lease of these sizes could ever be granted at once (on an empty arena). */
  fits(sizes: readonly number[]): boolean {
    if (sizes.some((s) => s > this.largestBlock)) return false;
    return sizes.reduce((n, s) => n + MIN_BLOCK * 2 ** orderOf(s), 0) <= this.budgetBytes;
  }

  private check(sizes: readonly number[]): void {
    for (const s of sizes) if (!Number.isInteger(s) || s < 0) throw new RangeError(`buffer size ${s} must be a non-negative integer`);
    if (!this.fits(sizes)) {
      const total = sizes.reduce((n, s) => n + s, 0);
      throw new DfsError('DFS_ERR_MEMORY_BUDGET', `${sizes.length} buffer${sizes.length === 1 ? '' : 's'} of ${total} bytes in all do not fit memory.bufferBytes (${this.budgetBytes} bytes, largest block ${this.largestBlock}); raise it in pool.json`);
    }
  }

  /** Leases now if the memory is free and nobody waits before us; otherwise null. */
  tryAcquire(size: number): Lease | null {
    this.check([size]);
    if (this.waiters.length > 0) return null;
    return this.take([size])?.[0] ?? null;
  }

  /** Leases all of `sizes` at once, waiting (in order of request) until they fit. */
  acquire(sizes: readonly number[]): Promise<Lease[]> {
    this.check(sizes);
    if (this.waiters.length === 0) {
      const got = this.take(sizes);
      if (got) return Promise.resolve(got);
    }
    this.waits++;
    return new Promise((resolve) => this.waiters.push({ sizes: [...sizes], resolve, since: process.hrtime.bigint() }));
  }

  /** Leases one buffer of `size` bytes (see acquire). */
  async acquireOne(size: number): Promise<Lease> {
    return (await this.acquire([size]))[0]!;
  }

  stats(): ArenaStats {
    return {
      budgetBytes: this.budgetBytes, inUseBytes: this.inUse, freeBytes: this.budgetBytes - this.inUse, requestedBytes: this.requested,
      leases: this.leases, waiting: this.waiters.length, waits: this.waits, waitSeconds: Number(this.waitNs) / 1e9, largestBlock: this.largestBlock,
    };
  }

  /** All of `sizes` or nothing. */
  private take(sizes: readonly number[]): Lease[] | null {
    const offsets: { offset: number; order: number }[] = [];
    for (const size of sizes) {
      const order = orderOf(size);
      const offset = this.allocate(order);
      if (offset === null) {
        for (const o of offsets) this.deallocate(o.offset, o.order);
        return null;
      }
      offsets.push({ offset, order });
    }
    return offsets.map(({ offset, order }, i) => this.lease(offset, order, sizes[i]!));
  }

  private lease(offset: number, order: number, size: number): Lease {
    const blockBytes = MIN_BLOCK * 2 ** order;
    this.inUse += blockBytes;
    this.requested += size;
    this.leases++;
    let held = true;
    return {
      bytes: new Uint8Array(this.memory, offset, size),
      blockBytes,
      release: () => {
        if (!held) return;
        held = false;
        this.inUse -= blockBytes;
        this.requested -= size;
        this.leases--;
        this.deallocate(offset, order);
        this.grant();
      },
    };
  }

  /** Serves waiters in order while the first one fits. */
  private grant(): void {
    while (this.waiters.length > 0) {
      const got = this.take(this.waiters[0]!.sizes);
      if (!got) return;
      const waiter = this.waiters.shift()!;
      this.waitNs += process.hrtime.bigint() - waiter.since;
      waiter.resolve(got);
    }
  }

  private allocate(order: number): number | null {
    for (let o = order; o < this.free.length; o++) {
      const set = this.free[o]!;
      if (set.size === 0) continue;
      const offset: number = set.values().next().value!;
      set.delete(offset);
      // Split down to the wanted order; the upper halves go back as free buddies.
      for (let split = o; split > order; split--) this.free[split - 1]!.add(offset + MIN_BLOCK * 2 ** (split - 1));
      return offset;
    }
    return null;
  }

  private deallocate(offset: number, order: number): void {
    let o = order;
    let at = offset;
    while (o < this.free.length - 1) {
      const buddy = at ^ (MIN_BLOCK * 2 ** o);
      if (!this.free[o]!.delete(buddy)) break;
      at = Math.min(at, buddy);
      o++;
    }
    this.free[o]!.add(at);
  }
}
