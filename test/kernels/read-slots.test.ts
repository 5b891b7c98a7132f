// Read slots: a worker reads and hashes an extent in its shared memory and
// the caller views the bytes there until it releases the slot.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKernels } from '../../src/kernels/public.js';
import { KernelPool } from '../../src/kernels/pool.js';
import { READ_SLOTS, heldSlots } from '../../src/kernels/read-slots.js';
import { fragmentLengthFor, type CodeLayout, type FragmentSource, type ReadResult, type ReadTask } from '../../src/kernels/tasks.js';
import { randomBytes } from '../helpers/gf-reference.js';

const HEADER = 64;
const dir = mkdtempSync(join(tmpdir(), 'dfs-slots-'));
const kernels = await createKernels();
let files = 0;

/** Writes an extent's fragment files; returns the read task for it and its bytes. */
function extent(layout: CodeLayout, size: number, seed: number): { task: Omit<ReadTask, 'op'>; bytes: Uint8Array; paths: string[] } {
  const bytes = randomBytes(size, seed);
  let payloads: Uint8Array[];
  let fragmentLength: number;
  if (layout.kind === 'ec') {
    fragmentLength = fragmentLengthFor(size, layout.k);
    const data = Array.from({ length: layout.k }, (_, i) => {
      const f = new Uint8Array(fragmentLength);
      f.set(bytes.subarray(i * fragmentLength, Math.min(size, (i + 1) * fragmentLength)));
      return f;
    });
    payloads = [...data, ...kernels.rsEncode(layout.k, layout.m, data)];
  } else {
    fragmentLength = size;
    payloads = Array.from({ length: layout.copies }, () => bytes);
  }
  const paths: string[] = [];
  const fragments: FragmentSource[] = payloads.map((payload) => {
    const path = join(dir, `f${files++}`);
    const file = new Uint8Array(HEADER + payload.length);
    file.set(payload, HEADER);
    writeFileSync(path, file);
    paths.push(path);
    return { path, offset: HEADER, expected: kernels.xxh3(payload) };
  });
  return { task: { layout, fragmentLength, size, extentHash: kernels.xxh3(bytes), fragments, slot: true }, bytes, paths };
}

const ec: CodeLayout = { kind: 'ec', k: 4, m: 2 };
const rep: CodeLayout = { kind: 'replication', copies: 3 };
const test = suite('read-slots');
let pool: KernelPool;
test.before(() => {
  pool = new KernelPool({ minThreads: 1, maxThreads: 1 }); // one worker: every read uses the same slots
});
test.after(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

const equal = (a: Uint8Array | null, b: Uint8Array) => a !== null && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b));

test('a read lands in a slot of the worker\'s shared memory, exact, until released; then the slot serves the next read', async () => {
  const a = extent(ec, (1 << 20) - 5, 1); // the last data fragment reaches past the extent's end
  const b = extent(rep, 1 << 20, 2);
  const first = await pool.read(a.task);
  assert.ok(first.data!.buffer instanceof SharedArrayBuffer, 'the bytes are viewed in shared memory');
  assert.ok(equal(first.data, a.bytes), 'ec:4+2 bytes exact');
  assert.is(first.data!.length, a.bytes.length);
  assert.type(first.release, 'function');
  assert.is(heldSlots(), 1);
  // Held: the next read goes to another slot and leaves these bytes alone.
  const second = await pool.read(b.task);
  assert.ok(equal(second.data, b.bytes), 'replication:3 bytes exact');
  assert.is.not(second.data!.byteOffset, first.data!.byteOffset);
  assert.ok(equal(first.data, a.bytes), 'a held slot is not written over');
  first.release!();
  second.release!();
  first.release!(); // a second release is harmless
  assert.is(heldSlots(), 0);
  // Released: the worker takes the first slot again, over the old bytes.
  const third = await pool.read(b.task);
  assert.is(third.data!.byteOffset, first.data!.byteOffset);
  assert.ok(equal(first.data, b.bytes.subarray(0, a.bytes.length)), 'the released view now shows the next read: releasing early would be a bug');
  third.release!();
});

test('with every slot held, reads still return exact bytes, in buffers of their own', async () => {
  const e = extent(rep, 256 * 1024, 3);
  const held: ReadResult[] = [];
  for (let i = 0; i < READ_SLOTS; i++) held.push(await pool.read(e.task));
  assert.ok(held.every((r) => r.data!.buffer instanceof SharedArrayBuffer && r.release));
  const spare = await pool.read(e.task);
  assert.ok(spare.data!.buffer instanceof ArrayBuffer, 'no slot free: a transferred buffer');
  assert.is(spare.release, undefined);
  assert.ok(equal(spare.data, e.bytes));
  for (const r of held) r.release!();
  const again = await pool.read(e.task);
  assert.ok(again.data!.buffer instanceof SharedArrayBuffer, 'slots again once released');
  again.release!();
  assert.is(heldSlots(), 0);
});

test('a bad fragment: the read verifies around it and frees the slot it gave up', async () => {
  const e = extent(ec, 1 << 20, 4);
  writeFileSync(e.paths[1]!, new Uint8Array(HEADER + e.task.fragmentLength).fill(7)); // a data fragment, wrong bytes
  const r = await pool.read(e.task);
  assert.ok(equal(r.data, e.bytes), 'rebuilt from parity');
  assert.ok(r.reconstructed);
  assert.is(r.fragments[1]!.status, 'checksum_mismatch');
  r.release?.();
  const copies = extent(rep, 1 << 20, 5);
  rmSync(copies.paths[0]!);
  const c = await pool.read(copies.task);
  assert.ok(equal(c.data, copies.bytes), 'the second replica');
  assert.ok(c.reconstructed);
  assert.is(c.fragments[0]!.status, 'missing');
  c.release!();
  const none = extent(rep, 4096, 6);
  for (const p of none.paths) writeFileSync(p, new Uint8Array(HEADER + 4096));
  const lost = await pool.read(none.task);
  assert.is(lost.data, null, 'no replica verifies: no bytes, never wrong ones');
  assert.is(heldSlots(), 0, 'every slot given up was freed');
});

test('readMany: one hand-off, one outcome per read, a bad read fails alone', async () => {
  const a = extent(ec, 300_000, 7);
  const b = extent(rep, 65536, 8);
  const out = await pool.readMany([a.task, { ...b.task, size: 3 }, b.task]);
  assert.is(out.length, 3);
  assert.ok(out[0]!.ok && equal(out[0]!.value.data, a.bytes));
  assert.ok(!out[1]!.ok && out[1]!.error.code === 'DFS_ERR_KERNEL_FRAGMENT_SHAPE');
  assert.ok(out[2]!.ok && equal(out[2]!.value.data, b.bytes));
  for (const o of out) if (o.ok) o.value.release?.();
  assert.is(heldSlots(), 0);
});

test.run();
