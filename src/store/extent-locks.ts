/**
 * Extents being repaired: a rebuild, a drain and the scrubber never repair
 * the same extent at once. One per engine; in-process only (the pool lock
 * keeps other processes out).
 */
export class ExtentLocks {
  private readonly held = new Map<string, Promise<void>>();

  /** Runs `fn` while no other holder of this extent's lock runs (waits its turn). */
  async run<T>(extentId: string, fn: () => Promise<T>): Promise<T> {
    for (let held = this.held.get(extentId); held; held = this.held.get(extentId)) await held;
    let release!: () => void;
    this.held.set(extentId, new Promise<void>((resolve) => { release = resolve; }));
    try {
      return await fn();
    } finally {
      this.held.delete(extentId);
      release();
    }
  }
}
