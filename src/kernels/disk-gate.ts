// The per-disk read queue: a bound on fragment reads in flight on each disk,
// shared by every thread that reads (the main thread and both worker pools),
// with the scrubber's reads behind the clients'.
//
// Throughput of a disk depends on how many reads it is given at once (cold
// reads of 256 KiB files here: 500 MB/s one at a time, 1,090 at 4, 1,670 at
// 16), but a disk given too many serves each one late, and one busy disk
// must not take the reads that others could serve. So each disk gets a bound
// (pool.json reads.perDiskInFlight). A client's read waits only for that
// disk's bound; a background read (the scrubber's) takes at most half of it
// and none while a client's read waits for that disk, so a scrub never sits
// in front of a client at the disk.
//
// Everything lives in one SharedArrayBuffer, handed to each worker at start:
//
//   Int32:  [perDisk, hedgeAfterMs, hedges, background bound (0: half of perDisk)] then per disk
//           [inFlight, clientsWaiting, recent µs, reads, bucket 0 .. bucket N]
//   BigInt64 (after): per disk, the sum of read times in microseconds
//
// The same words are the metrics' source: reads in flight and a read-time
// histogram per disk, and the count of hedged reads (see task-runner).

/** Atomics.waitAsync (in Node since 16; not yet in this TypeScript's library). */
const waitAsync = (Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync;

/** Disk slots in a gate: more than any pool has disks. */
export const GATE_DISKS = 256;
/** Upper bounds of the read-time histogram's buckets, in seconds (then +Inf). */
export const READ_TIME_BUCKETS = [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048];

const HEADER = 4;
const PER_DISK = 4 + READ_TIME_BUCKETS.length + 1;
const BUCKETS_AT = 4;
const INT_WORDS = HEADER + GATE_DISKS * PER_DISK;
const SUM_AT = Math.ceil((INT_WORDS * 4) / 8) * 8;
/** How long a waiting read sleeps before it looks again, whatever it was told. */
const RECHECK_MS = 20;

export interface DiskReadStats {
  inFlight: number;
  reads: number;
  /** Reads per bucket of READ_TIME_BUCKETS (each bucket's own, not cumulative), then those over the last bound. */
  counts: number[];
  sumSeconds: number;
}

export class DiskGate {
  private readonly words: Int32Array;
  private readonly sums: BigInt64Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(SUM_AT + GATE_DISKS * 8)) {
    this.words = new Int32Array(buffer, 0, INT_WORDS);
    this.sums = new BigInt64Array(buffer, SUM_AT, GATE_DISKS);
    if (Atomics.load(this.words, 0) === 0) this.configure(INITIAL.perDisk, INITIAL.hedgeAfterMs);
  }

  /**
   * Sets the bound, the hedge deadline and the background reads' bound (0:
   * half the bound, at least one); live: every thread sees them on its next read.
   */
  configure(perDisk: number, hedgeAfterMs: number, background = 0): void {
    Atomics.store(this.words, 0, Math.max(1, perDisk));
    Atomics.store(this.words, 1, Math.max(0, hedgeAfterMs));
    Atomics.store(this.words, 3, Math.max(0, Math.min(background, perDisk)));
  }

  /** Background reads in flight on one disk at most. */
  get backgroundBound(): number {
    return Atomics.load(this.words, 3) || Math.max(1, this.perDisk >> 1);
  }

  get perDisk(): number {
    return Atomics.load(this.words, 0);
  }

  /** Ms after which a slow EC data fragment is read around (0: never). */
  get hedgeAfterMs(): number {
    return Atomics.load(this.words, 1);
  }

  get hedges(): number {
    return Atomics.load(this.words, 2);
  }

  noteHedge(): void {
    Atomics.add(this.words, 2, 1);
  }

  private at(disk: number): number {
    return HEADER + disk * PER_DISK;
  }

  /** Takes a read's place on `disk` if there is one for its class now (a disk not gated always has one). */
  tryTake(disk: number | undefined, background = false): boolean {
    if (disk === undefined || !(disk >= 0 && disk < GATE_DISKS)) return true;
    const at = this.at(disk);
    const bound = background ? this.backgroundBound : this.perDisk;
    for (;;) {
      const now = Atomics.load(this.words, at);
      if (now >= bound || (background && Atomics.load(this.words, at + 1) > 0)) return false;
      if (Atomics.compareExchange(this.words, at, now, now + 1) === now) return true;
    }
  }

  /**
   * Waits for a place on the disk (an index below GATE_DISKS; anything else
   * is not gated): true when the read may start, false when `wanted` said
   * while it waited that the read is no longer needed (it then holds no place).
   */
  async acquire(disk: number | undefined, background = false, wanted: () => boolean = () => true): Promise<boolean> {
    if (disk === undefined || !(disk >= 0 && disk < GATE_DISKS)) return true;
    if (this.tryTake(disk, background)) return true;
    const at = this.at(disk);
    if (!background) Atomics.add(this.words, at + 1, 1);
    try {
      for (;;) {
        const seen = Atomics.load(this.words, at);
        const waited = waitAsync(this.words, at, seen, RECHECK_MS);
        if (waited.async) await waited.value;
        if (!wanted()) return false;
        if (this.tryTake(disk, background)) return true;
      }
    } finally {
      if (!background) Atomics.sub(this.words, at + 1, 1);
    }
  }

  /** Gives the place back and records the read's time (from hrtime.bigint() at its start). */
  release(disk: number | undefined, startedNs: bigint): void {
    if (disk === undefined || !(disk >= 0 && disk < GATE_DISKS)) return;
    const at = this.at(disk);
    Atomics.sub(this.words, at, 1);
    Atomics.notify(this.words, at);
    const ns = process.hrtime.bigint() - startedNs;
    const seconds = Number(ns) / 1e9;
    let bucket = READ_TIME_BUCKETS.findIndex((bound) => seconds <= bound);
    if (bucket < 0) bucket = READ_TIME_BUCKETS.length;
    const micros = Number(ns / 1000n);
    // The recent read time: a moving average that forgets over about eight reads (races between threads lose an update, no more).
    const recent = Atomics.load(this.words, at + 2);
    Atomics.store(this.words, at + 2, Math.min(2 ** 31 - 1, Math.max(1, Math.round(recent + (micros - recent) / 8))));
    Atomics.add(this.words, at + 3, 1);
    Atomics.add(this.words, at + BUCKETS_AT + bucket, 1);
    Atomics.add(this.sums, disk, BigInt(micros));
  }

  /** The disk's recent read time in µs (0 when unknown, or for a disk not gated; at least 1 once known). */
  recentMicros(disk: number | undefined): number {
    if (disk === undefined || !(disk >= 0 && disk < GATE_DISKS)) return 0;
    return Atomics.load(this.words, this.at(disk) + 2);
  }


  stats(disk: number): DiskReadStats {
    const at = this.at(disk);
    const counts = Array.from({ length: READ_TIME_BUCKETS.length + 1 }, (_, i) => Atomics.load(this.words, at + BUCKETS_AT + i));
    return {
      inFlight: Atomics.load(this.words, at),
      reads: Atomics.load(this.words, at + 3),
      counts,
      sumSeconds: Number(Atomics.load(this.sums, disk)) / 1e6,
    };
  }
}

/** A gate's settings until the engine sets the pool's (pool.json `reads`, whose defaults these are). */
const INITIAL = { perDisk: 4, hedgeAfterMs: 50 };

/** The gate of this thread: set once in a worker from its workerData, or made on first use in the main thread. */
let threadGate: DiskGate | null = null;

export function useDiskGate(buffer: SharedArrayBuffer | undefined): void {
  if (buffer) threadGate = new DiskGate(buffer);
}

export function diskGate(): DiskGate {
  return (threadGate ??= new DiskGate());
}

/** Places in the queue given to disks so far in this process (by disk id), in order. */
const gateIndexes = new Map<string, number>();

/**
 * The disk's place in the read queue, the same for every pool this process
 * opens (past GATE_DISKS disks, places are shared: such disks then share a bound).
 */
export function gateIndexOf(diskId: string): number {
  let index = gateIndexes.get(diskId);
  if (index === undefined) gateIndexes.set(diskId, (index = gateIndexes.size % GATE_DISKS));
  return index;
}
