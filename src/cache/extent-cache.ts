// A bounded cache of verified extent bytes, keyed by extent id. Extents are
// immutable (an overwrite makes new ids), so entries never go stale; deletes
// evict to give the memory back. Least recently used goes first: a Map keeps
// insertion order, and a hit re-inserts its entry at the end.
//
// The bytes live in an arena of the cache's own (see src/buffers), allocated
// once: a cached extent is a copy into a block of it, never a fresh
// ArrayBuffer, so the cache's memory is its bound and churning entries does
// not fragment the process heap. A hit pins its entry until the reader
// releases it: an entry evicted meanwhile leaves the map at once but keeps
// its block until the last reader is done, so a block is never reused under
// a reader's feet.
import { BufferArena, MIN_BLOCK, type Lease } from '../buffers/index.js';

export interface CacheStats {
  hits: number;
  misses: number;
  entries: number;
  bytes: number;
  maxBytes: number;
  evictions: number;
  /** hits / (hits + misses), 0 before the first lookup. */
  hitRate: number;
}

/** A cache hit: the bytes, valid until release() (call it once). */
export interface CachedExtent {
  readonly data: Uint8Array;
  release(): void;
}

interface Entry {
  lease: Lease;
  readers: number;
  /** Out of the map: the block goes back when the last reader releases it. */
  evicted: boolean;
}

export class ExtentCache {
  private readonly entries = new Map<string, Entry>();
  private arena: BufferArena | null = null;
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(private readonly maxBytes: number) {}

  /** Allocates the cache's memory now and touches every page (see BufferArena.prefault). */
  prefault(): void {
    if (this.maxBytes < MIN_BLOCK) return;
    this.arena ??= new BufferArena(this.maxBytes);
    this.arena.prefault();
  }

  get(id: string): CachedExtent | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(id);
    this.entries.set(id, entry);
    entry.readers++;
    let held = true;
    return {
      data: entry.lease.bytes,
      release: () => {
        if (!held) return;
        held = false;
        entry.readers--;
        if (entry.evicted && entry.readers === 0) entry.lease.release();
      },
    };
  }

  /** Whether an entry of this size would be kept (a cache of 0 bytes keeps nothing). */
  accepts(bytes: number): boolean {
    return bytes <= this.maxBytes && this.maxBytes >= MIN_BLOCK;
  }

  /** Keeps a copy of `value`, evicting the least recently used entries to make room. */
  set(id: string, value: Uint8Array): void {
    if (!this.accepts(value.length)) return;
    this.delete(id);
    this.arena ??= new BufferArena(this.maxBytes);
    let lease = this.arena.tryAcquire(value.length);
    for (const [oldId] of this.entries) {
      if (lease && this.bytes + value.length <= this.maxBytes) break;
      this.evict(oldId);
      this.evictions++;
      lease ??= this.arena.tryAcquire(value.length);
    }
    if (!lease) return; // the room is held by readers of evicted entries
    lease.bytes.set(value);
    this.entries.set(id, { lease, readers: 0, evicted: false });
    this.bytes += value.length;
  }

  delete(id: string): void {
    this.evict(id);
  }

  private evict(id: string): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.entries.delete(id);
    this.bytes -= entry.lease.bytes.length;
    entry.evicted = true;
    if (entry.readers === 0) entry.lease.release();
  }

  stats(): CacheStats {
    const lookups = this.hits + this.misses;
    return {
      hits: this.hits,
      misses: this.misses,
      entries: this.entries.size,
      bytes: this.bytes,
      maxBytes: this.maxBytes,
      evictions: this.evictions,
      hitRate: lookups === 0 ? 0 : this.hits / lookups,
    };
  }
}
