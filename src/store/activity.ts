// Foreground activity: client reads and writes that reach the disks (not
// cache hits, not the scrubber's own reads). The scrubber asks how long the
// pool has been idle, like ZFS's scan idle window: at `high` it pauses between
// batches only while clients are using the pool.
export class ForegroundActivity {
  private active = 0;
  private lastEnded = Number.NEGATIVE_INFINITY;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Marks the start of one foreground operation; call the returned function when it ends. */
  begin(): () => void {
    this.active++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.active--;
      this.lastEnded = this.now();
    };
  }

  /** Milliseconds since the last foreground operation ended; 0 while one runs. */
  idleMs(): number {
    return this.active > 0 ? 0 : this.now() - this.lastEnded;
  }
}
