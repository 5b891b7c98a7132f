// A bounded cache of verified extent bytes, keyed by extent id. Extents are
// immutable (an overwrite makes new ids), so entries never go stale; deletes
// evict to give the memory back. Least recently used goes first: a Map keeps
// insertion order, and a hit re-inserts its entry at the end.
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

export class ExtentCache {
  private readonly entries = new Map<string, Uint8Array>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(private maxBytes: number) {}

  get(id: string): Uint8Array | undefined {
    const value = this.entries.get(id);
    if (value === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(id);
    this.entries.set(id, value);
    return value;
  }

  /** Whether an entry of this size would be kept (a cache of 0 bytes keeps nothing). */
  accepts(bytes: number): boolean {
    return bytes <= this.maxBytes;
  }

  set(id: string, value: Uint8Array): void {
    if (value.length > this.maxBytes) return;
    this.delete(id);
    this.entries.set(id, value);
    this.bytes += value.length;
    this.trim();
  }

  delete(id: string): void {
    const old = this.entries.get(id);
    if (old === undefined) return;
    this.entries.delete(id);
    this.bytes -= old.length;
  }

  resize(maxBytes: number): void {
    this.maxBytes = maxBytes;
    this.trim();
  }

  private trim(): void {
    for (const [id, value] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(id);
      this.bytes -= value.length;
      this.evictions++;
    }
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
