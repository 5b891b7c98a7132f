// Foreground activity: client reads and writes that reach the disks (not
// cache hits, not the scrubber's own reads). The scrubber asks how long the
// pool has been idle, like ZFS's scan idle window (at `high` it pauses between
// batches only while clients are using the pool), and, at `auto`, how long
// clients' requests take: the latencies of their object requests (/v1 and
// S3, whole requests as the client sees them) and of the engine's reads and
// writes they make, each kept for the last few seconds.

/** The latencies of the last WINDOW_SAMPLES operations, with when each ended: enough for a p99 over a second or two of load. */
const WINDOW_SAMPLES = 4096;

export class LatencyWindow {
  private readonly at = new Float64Array(WINDOW_SAMPLES);
  private readonly ms = new Float64Array(WINDOW_SAMPLES);
  private next = 0;
  private count = 0;

  record(endedAt: number, ms: number): void {
    this.at[this.next] = endedAt;
    this.ms[this.next] = ms;
    this.next = (this.next + 1) % WINDOW_SAMPLES;
    this.count = Math.min(WINDOW_SAMPLES, this.count + 1);
  }

  /** The latencies of operations that ended at or after `since`, newest first. */
  since(since: number): number[] {
    const out: number[] = [];
    for (let i = 1; i <= this.count; i++) {
      const j = (this.next - i + WINDOW_SAMPLES) % WINDOW_SAMPLES;
      if (this.at[j]! < since) break;
      out.push(this.ms[j]!);
    }
    return out;
  }
}

/** The q-quantile (0..1) of `values` (nearest rank), or null for none. */
export function quantile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export class ForegroundActivity {
  private active = 0;
  private lastEnded = Number.NEGATIVE_INFINITY;
  /** Engine operations for clients (a read of a run of extents, a write), by duration. */
  readonly operations = new LatencyWindow();
  /** Whole client requests for objects (/v1 and S3), by duration. */
  readonly requests = new LatencyWindow();

  constructor(readonly now: () => number = () => performance.now()) {}

  /** Marks the start of one foreground operation; call the returned function when it ends. */
  begin(): () => void {
    this.active++;
    const started = this.now();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.active--;
      this.lastEnded = this.now();
      this.operations.record(this.lastEnded, this.lastEnded - started);
    };
  }

  /** A client's object request took `ms` (ending now). */
  request(ms: number): void {
    this.requests.record(this.now(), ms);
  }

  /** Milliseconds since the last foreground operation ended; 0 while one runs. */
  idleMs(): number {
    return this.active > 0 ? 0 : this.now() - this.lastEnded;
  }

  /**
   * Client latencies over the last `windowMs`: whole requests when there were
   * any (what clients feel), else the engine's operations (a pool used from
   * the command line, or by a program embedding the engine).
   */
  latencies(windowMs: number): number[] {
    const since = this.now() - windowMs;
    const requests = this.requests.since(since);
    return requests.length > 0 ? requests : this.operations.since(since);
  }
}
