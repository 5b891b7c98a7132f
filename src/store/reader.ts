// The read path. Each extent is read in the worker pool by a `read` task that
// reads only the fragments it needs, checks every one against its checksum,
// reconstructs around bad ones and checks the assembled bytes against the
// extent checksum. Bad fragments it met are recorded in the catalogue (the
// extent becomes degraded, the problem is listed for repair). An extent that
// cannot be rebuilt fails the read with DFS_ERR_EXTENT_UNRECOVERABLE: wrong
// bytes are never returned. Up to READ_AHEAD extents are in flight; output
// stays in order.
import { DfsError } from '../errors.js';
import { log } from '../log/index.js';
import type { ExtentWithFragments, FragmentProblem, ObjectRow } from '../catalog/index.js';
import { codeLayout, parsePolicy } from '../pool/index.js';
import { gateIndexOf, type FragmentSource, type ReadResult, type ReadTask } from '../kernels/index.js';
import type { Engine } from './engine.js';
import { fragmentPath, hex64, parseHex64 } from '../format/index.js';
import { readPacked } from './packs.js';

/**
 * Extents of one object being read at once, and per worker task. Measured
 * here on a 1 GiB object warm in the page cache (MB/s, medians of 15 and 11
 * alternating rounds in one process):
 * replication:3 8/2 7684, 16/2 8704, 16/4 9504; ec:4+2 8/2 4946, 16/2 5489,
 * 16/4 5955. A deep queue keeps both cores busy while the main thread hands
 * out work, and a task of four extents pays one hand-off for four. From the
 * disks (page cache dropped), sixteen extents ahead were not enough to keep
 * every disk's queue full: a 1 GiB ec:4+2 get held at 1303–1313 MB/s in four
 * runs of npm run bench:io while the baseline at the same per-disk depth
 * read 1504–1766; thirty-two ahead gave 1573 against 1609 (0.98x). A lone
 * read gets the thirty-two; several share READS_IN_FLIGHT as before.
 */
export const READ_AHEAD = 32;
const READ_GROUP = 4;
/**
 * Extents in flight for all of an engine's object reads together: with many
 * at once (a daemon serving many large GETs) each gets a share of this, down
 * to MIN_READ_AHEAD, so memory stays bounded by about this many extents. The
 * read slots they land in are touched as deep as reads go at once: 32 (16 a
 * worker on two cores) kept 1,000 GETs of 4 MiB from 16 clients at about
 * 15 MiB of slot memory where 64 took about 30 (npm run bench:memory); two
 * cores are busy with far fewer.
 */
const READS_IN_FLIGHT = 32;
const MIN_READ_AHEAD = 2;
const activeReads = new WeakMap<Engine, number>();

/** How far one of `readers` concurrent object reads may read ahead. */
export function readAheadFor(readers: number): number {
  return Math.max(MIN_READ_AHEAD, Math.min(READ_AHEAD, Math.floor(READS_IN_FLIGHT / Math.max(1, readers))));
}

/** Fragment sources for a task: null where the fragment is known bad or its disk has failed. */
export function fragmentSources(engine: Engine, extent: ExtentWithFragments, options: { includeKnownBad?: boolean } = {}): (FragmentSource | null)[] {
  const sources: (FragmentSource | null)[] = new Array<FragmentSource | null>(extent.width).fill(null);
  for (const f of extent.fragments) {
    const disk = engine.catalog.diskRef(f.diskId);
    if (!disk || disk.state === 'failed') continue;
    if (f.state !== 'ok' && !options.includeKnownBad) continue;
    sources[f.index] = { path: fragmentPath(disk.path, extent.id, f.index), offset: extent.payloadOffset, expected: parseHex64(f.checksum), disk: gateIndexOf(f.diskId) };
  }
  return sources;
}

/**
 * Reads one extent's verified bytes (from the cache when it holds them).
 * With `into` (a view of extent.size bytes at the start of an ArrayBuffer)
 * the buffer moves to the worker, which writes the bytes there and hands it
 * back: the result is then a view of that memory, unless the cache answered.
 */
export async function readExtent(engine: Engine, extent: ExtentWithFragments, key: string, into?: Uint8Array): Promise<Uint8Array> {
  const cached = engine.cache.get(extent.id);
  if (cached) {
    // The cache's block is reused once released: the caller gets bytes of its own.
    const bytes = into ?? new Uint8Array(extent.size);
    bytes.set(cached.data);
    cached.release();
    return bytes;
  }
  // No read slot: the bytes are the caller's to keep, in `into` or a buffer of their own.
  const { task, sources } = readTask(engine, extent, into ? { into } : {});
  const done = engine.foreground.begin();
  const result = await engine.workers().read(task).finally(done);
  return settle(engine, extent, key, sources, result).data;
}

/** What the worker needs to read an extent: where each fragment is, what it must hash to, and where its bytes go. */
function readTask(engine: Engine, extent: ExtentWithFragments, where: Pick<ReadTask, 'into' | 'slot'>): { task: Omit<ReadTask, 'op'>; sources: (FragmentSource | null)[] } {
  const sources = fragmentSources(engine, extent);
  const task: Omit<ReadTask, 'op'> = {
    layout: codeLayout(parsePolicy(extent.policy)),
    fragmentLength: extent.fragmentLength,
    size: extent.size,
    extentHash: parseHex64(extent.checksum),
    fragments: sources,
    ...where,
  };
  return { task, sources };
}

interface Got {
  data: Uint8Array;
  /** Frees the worker's read slot the bytes lie in (absent when they are ours to keep). */
  release?: () => void;
}

/**
 * Books what a read met: fragments that failed are recorded in the catalogue,
 * an extent that could not be rebuilt throws, and the cache gets a copy of
 * the bytes in its own memory.
 */
function settle(engine: Engine, extent: ExtentWithFragments, key: string, sources: (FragmentSource | null)[], result: ReadResult): Got {
  // An extent replaced or deleted while it was read is not damaged: its files were removed on purpose.
  if (!result.data && !engine.catalog.extent(extent.id)) {
    throw new DfsError('DFS_ERR_OBJECT_CHANGED', `"${key}" was replaced or deleted while it was being read`);
  }
  const problems: FragmentProblem[] = [];
  result.fragments.forEach((outcome, index) => {
    const fragment = extent.fragments.find((f) => f.index === index);
    // Fragments not tried (known bad, or on a failed disk) are not news.
    if (outcome && fragment && sources[index]) {
      if (outcome.status === 'ok') engine.io.read(fragment.diskId, extent.fragmentLength);
      else {
        if (outcome.status === 'unreadable') engine.io.error(fragment.diskId);
        problems.push({ index, diskId: fragment.diskId, kind: outcome.status, observed: outcome.hash === null ? null : hex64(outcome.hash) });
      }
    }
  });
  // Only problems newly seen are written; known ones were skipped, not re-read.
  if (problems.length > 0) {
    log('store').warn({ key, extent: extent.id, seq: extent.seq, problems }, result.data ? 'bad fragments skipped; extent rebuilt from the others' : 'bad fragments');
    engine.noteProblems(extent.id, problems, 'read');
    // Read around: the daemon heals it now rather than at the next scrub.
    if (result.data) engine.healer?.(extent.id);
  }
  if (!result.data) {
    engine.catalog.recomputeExtent(extent.id);
    log('store').error({ key, extent: extent.id, seq: extent.seq }, 'extent unrecoverable');
    throw new DfsError('DFS_ERR_EXTENT_UNRECOVERABLE', `"${key}" extent ${extent.seq} (${extent.id}): fewer than ${extent.need} of ${extent.width} fragments verified`, {
      details: { key, extent: extent.id, seq: extent.seq },
    });
  }
  // The cache keeps a copy in its own memory.
  if (engine.cache.accepts(extent.size)) engine.cache.set(extent.id, result.data);
  return result.release ? { data: result.data, release: result.release } : { data: result.data };
}

type Outcome = { ok: true; got: Got } | { ok: false; error: unknown };

/**
 * Reads a run of an object's extents: those the cache holds from there, the
 * others in one worker task. One outcome per extent, in order; each read
 * that came back holds its slot until released, whatever became of the rest.
 */
async function readGroup(engine: Engine, group: ExtentWithFragments[], key: string): Promise<Outcome[]> {
  const outcomes: (Outcome | null)[] = group.map((extent) => {
    const cached = engine.cache.get(extent.id);
    return cached ? { ok: true, got: { data: cached.data, release: cached.release } } : null;
  });
  const wanted = group.flatMap((extent, i) => (outcomes[i] ? [] : [{ i, extent, ...readTask(engine, extent, { slot: true }) }]));
  if (wanted.length > 0) {
    const done = engine.foreground.begin();
    try {
      const results = await engine.workers().readMany(wanted.map((w) => w.task));
      results.forEach((r, j) => {
        const { i, extent, sources } = wanted[j]!;
        try {
          if (!r.ok) throw r.error;
          outcomes[i] = { ok: true, got: settle(engine, extent, key, sources, r.value) };
        } catch (error) {
          if (r.ok) r.value.release?.();
          outcomes[i] = { ok: false, error };
        }
      });
    } catch (error) {
      for (const w of wanted) outcomes[w.i] ??= { ok: false, error };
    } finally {
      done();
    }
  }
  return outcomes as Outcome[];
}

export function lookupObject(engine: Engine, key: string): ObjectRow {
  const object = engine.catalog.object(key);
  if (!object) throw new DfsError('DFS_ERR_OBJECT_NOT_FOUND', JSON.stringify(key));
  return object;
}

/**
 * The verified bytes of an object, extent by extent, in order, with up to
 * READ_AHEAD extents being read at once (less when many reads share the
 * engine, see readAheadFor), READ_GROUP to a worker task (one
 * hand-off for several extents). The bytes of a yielded chunk lie in a
 * worker's read slot, which is freed when the next chunk is requested: a
 * chunk is valid until then. The object's extent list is taken once at the
 * start: an overwrite meanwhile does not mix versions (the old fragments may
 * vanish, which fails the read rather than mixing).
 *
 * With `range` ([start, end) in the object), only the extents it touches are
 * read (each still verified whole) and the chunks are cut to it.
 */
export async function* readObject(engine: Engine, object: ObjectRow, range?: { start: number; end: number }): AsyncGenerator<Uint8Array> {
  const packed = engine.catalog.packedOf(object.id);
  if (packed) {
    // A small object in a pack: its own bytes, read and checked on their own (packs.ts).
    const { data, release } = await readPacked(engine, object, packed);
    try {
      yield range ? data.subarray(range.start, range.end) : data;
    } finally {
      release();
    }
    return;
  }
  let extents = engine.catalog.extentsOfObject(object.id);
  /** Bytes to cut from the front of the first chunk and where the last one ends. */
  let cutFront = 0;
  let lastEnd = Infinity;
  if (range) {
    let at = 0;
    const touched: ExtentWithFragments[] = [];
    for (const extent of extents) {
      if (at + extent.size > range.start && at < range.end) {
        if (touched.length === 0) cutFront = range.start - at;
        touched.push(extent);
        lastEnd = range.end - at;
      }
      at += extent.size;
    }
    extents = touched;
  }
  let yielded = 0;
  /** A chunk cut to the range: the first loses its front, the last its tail. */
  const cut = (data: Uint8Array): Uint8Array => {
    const index = yielded++;
    const end = index === extents.length - 1 ? Math.min(lastEnd, data.length) : data.length;
    return data.subarray(index === 0 ? cutFront : 0, end);
  };
  const pending: Promise<Outcome[]>[] = [];
  let next = 0;
  let inFlight = 0;
  /** Outcomes of the group being yielded, not yet handed to the consumer. */
  let current: Outcome[] = [];
  const fill = () => {
    const ahead = readAheadFor(activeReads.get(engine) ?? 1);
    while (inFlight < ahead && next < extents.length) {
      const group = extents.slice(next, next + Math.min(READ_GROUP, ahead - inFlight));
      next += group.length;
      inFlight += group.length;
      pending.push(readGroup(engine, group, object.key));
    }
  };
  activeReads.set(engine, (activeReads.get(engine) ?? 0) + 1);
  try {
    fill();
    while (pending.length > 0) {
      current = await pending.shift()!;
      while (current.length > 0) {
        const outcome = current.shift()!;
        inFlight--;
        if (!outcome.ok) throw outcome.error;
        try {
          yield range ? cut(outcome.got.data) : outcome.got.data;
        } finally {
          // The consumer is done with these bytes (or gone): their slot may be written over.
          outcome.got.release?.();
        }
      }
      fill();
    }
  } finally {
    activeReads.set(engine, activeReads.get(engine)! - 1);
    // Failed or abandoned: free the slots of reads that came back or are still coming.
    const free = (outcomes: Outcome[]) => outcomes.forEach((o) => o.ok && o.got.release?.());
    free(current);
    for (const p of pending) void p.then(free);
  }
}

/** Where sendChunks writes: an HTTP response, or any stream with a write callback. */
export interface ChunkSink {
  write(chunk: Buffer, callback: (error?: Error | null) => void): boolean;
  end(): void;
  destroy(): void;
  readonly destroyed: boolean;
}

/**
 * Sends an object's chunks (readObject's, the first one already taken) to
 * `out`. Each chunk lies in a worker's read slot, freed when the next is
 * asked for: it goes out as it is (no copy), and the next is asked for once
 * `out` has taken it all (the write's callback). No buffer per chunk, so large
 * GETs do not churn the heap. The answer has begun, so a failure can only cut
 * the connection: it is returned (null when everything went out) for the
 * caller to log, unless the other side had gone already.
 */
export async function sendChunks(out: ChunkSink, chunks: AsyncGenerator<Uint8Array>, first: IteratorResult<Uint8Array>, onChunk?: (bytes: number) => void): Promise<Error | null> {
  const send = (chunk: Uint8Array) => new Promise<void>((resolve, reject) => {
    onChunk?.(chunk.length);
    out.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length), (error) => (error ? reject(error) : resolve()));
  });
  try {
    if (!first.done) {
      await send(first.value);
      for await (const chunk of { [Symbol.asyncIterator]: () => chunks }) await send(chunk);
    }
    out.end();
    return null;
  } catch (error) {
    const gone = out.destroyed;
    out.destroy();
    return gone ? null : (error as Error);
  } finally {
    await chunks.return(undefined);
  }
}

