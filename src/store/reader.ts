// The read path. Each extent is read in the worker pool by a `read` task that
// reads only the fragments it needs, checks every one against its checksum,
// reconstructs around bad ones and checks the assembled bytes against the
// extent checksum. Bad fragments it met are recorded in the catalogue (the
// extent becomes degraded, the problem is listed for repair). An extent that
// cannot be rebuilt fails the read with DFS_ERR_EXTENT_UNRECOVERABLE: wrong
// bytes are never returned. Up to eight extents are in flight; output stays
// in order.
import { DfsError } from '../errors.js';
import { log } from '../log/index.js';
import type { ExtentWithFragments, FragmentProblem, ObjectRow } from '../catalog/index.js';
import { codeLayout, parsePolicy } from '../pool/index.js';
import type { FragmentSource } from '../kernels/index.js';
import type { Engine } from './engine.js';
import { fragmentPath } from './fragment-io.js';
import { parseHex64 } from './fragment-format.js';

const READ_AHEAD = 8;

/** Fragment sources for a task: null where the fragment is known bad or its disk has failed. */
export function fragmentSources(engine: Engine, extent: ExtentWithFragments, options: { includeKnownBad?: boolean } = {}): (FragmentSource | null)[] {
  const sources: (FragmentSource | null)[] = new Array<FragmentSource | null>(extent.width).fill(null);
  for (const f of extent.fragments) {
    const disk = engine.catalog.diskRef(f.diskId);
    if (!disk || disk.state === 'failed') continue;
    if (f.state !== 'ok' && !options.includeKnownBad) continue;
    sources[f.index] = { path: fragmentPath(disk.path, extent.id, f.index), offset: extent.payloadOffset, expected: parseHex64(f.checksum) };
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
  return (await readExtentInto(engine, extent, key, into)).data;
}

/** readExtent, saying whether the bytes are the cache's own (never to be written over) or on the buffer given. */
async function readExtentInto(engine: Engine, extent: ExtentWithFragments, key: string, into?: Uint8Array): Promise<{ data: Uint8Array; cached: boolean }> {
  const cached = engine.cache.get(extent.id);
  if (cached) return { data: cached, cached: true };
  const policy = parsePolicy(extent.policy);
  const sources = fragmentSources(engine, extent);
  const done = engine.foreground.begin();
  const result = await engine.workers().read({
    layout: codeLayout(policy),
    fragmentLength: extent.fragmentLength,
    size: extent.size,
    extentHash: parseHex64(extent.checksum),
    fragments: sources,
    ...(into ? { into } : {}),
  }).finally(done);
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
        problems.push({ index, diskId: fragment.diskId, kind: outcome.status });
      }
    }
  });
  // Only problems newly seen are written; known ones were skipped, not re-read.
  if (problems.length > 0) {
    log('store').warn({ key, extent: extent.id, seq: extent.seq, problems }, result.data ? 'bad fragments skipped; extent rebuilt from the others' : 'bad fragments');
    engine.catalog.recordProblems(extent.id, problems, 'read');
  }
  if (!result.data) {
    engine.catalog.recomputeExtent(extent.id);
    log('store').error({ key, extent: extent.id, seq: extent.seq }, 'extent unrecoverable');
    throw new DfsError('DFS_ERR_EXTENT_UNRECOVERABLE', `"${key}" extent ${extent.seq} (${extent.id}): fewer than ${extent.need} of ${extent.width} fragments verified`, {
      details: { key, extent: extent.id, seq: extent.seq },
    });
  }
  // The cache keeps its own copy: `into`'s buffer belongs to the caller and will be reused.
  if (engine.cache.accepts(extent.size)) engine.cache.set(extent.id, into ? result.data.slice() : result.data);
  return { data: result.data, cached: false };
}

export function lookupObject(engine: Engine, key: string): ObjectRow {
  const object = engine.catalog.object(key);
  if (!object) throw new DfsError('DFS_ERR_OBJECT_NOT_FOUND', JSON.stringify(key));
  return object;
}

/**
 * The verified bytes of an object, extent by extent, in order, with up to
 * READ_AHEAD extents being read at once. Each read hands a buffer to a worker
 * by transfer and gets it back with the bytes; a yielded chunk is valid until
 * the next one is requested (its buffer is then reused). The object's extent
 * list is taken once at the start: an overwrite meanwhile does not mix
 * versions (the old fragments may vanish, which fails the read rather than
 * mixing).
 */
export async function* readObject(engine: Engine, object: ObjectRow): AsyncGenerator<Uint8Array> {
  const extents = engine.catalog.extentsOfObject(object.id);
  if (extents.length === 0) return;
  const slotBytes = Math.max(...extents.map((e) => e.size));
  // At most READ_AHEAD buffers are with the workers and one with the consumer; a read that fails keeps its buffer.
  const free: ArrayBuffer[] = [];
  const pending: Promise<{ data: Uint8Array; cached: boolean }>[] = [];
  let next = 0;
  const fill = () => {
    while (pending.length < READ_AHEAD && next < extents.length) {
      const extent = extents[next++]!;
      const buffer = free.pop() ?? new ArrayBuffer(slotBytes);
      // A cache hit leaves the buffer unused (it never went to a worker): it serves the next read.
      const p = readExtentInto(engine, extent, object.key, new Uint8Array(buffer, 0, extent.size)).then((r) => {
        if (r.cached) free.push(buffer);
        return r;
      });
      p.catch(() => {}); // observed when awaited below
      pending.push(p);
    }
  };
  fill();
  while (pending.length > 0) {
    const { data, cached } = await pending.shift()!;
    yield data;
    // Only now, with the consumer done with `data`, may its buffer be reused (never the cache's own bytes).
    if (!cached && data.buffer instanceof ArrayBuffer && data.buffer.byteLength === slotBytes) free.push(data.buffer);
    fill();
  }
}
