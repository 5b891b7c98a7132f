// The per-disk read queue and hedged reads. The queue: a disk never has
// more than its bound of reads, a background read waits while a client's
// waits, read times land in the shared histogram. Hedging, on a real pool
// with one disk made slow by fault injection: an EC get reads around the
// slow data fragments from parity, its bytes exact, in far less time than
// waiting for the disk; with hedging off the same get waits for it; a
// replicated get reads the next replica when one is late.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/cli.js';
import { randomBytes } from '../helpers/gf-reference.js';

const root = tempDir('dfs-read-queue-');
const disks = Array.from({ length: 6 }, (_, i) => join(root, `d${i}`));
// A second pool's disks: new to the read queue, so no disk of theirs is known slow yet.
const fresh = Array.from({ length: 6 }, (_, i) => join(root, `f${i}`));
for (const d of [...disks, ...fresh]) mkdirSync(d);
const SLOW_MS = 400;
// Faults are read when the modules load (and by each worker as it starts): set before importing the engine.
process.env.DYNAMICFS_FAULTS = JSON.stringify([disks[0], fresh[0]].map((disk) => ({ op: 'read', disk, delayMs: SLOW_MS })));
const { DiskGate, READ_TIME_BUCKETS, diskGate } = await import('../../src/kernels/index.js');
const { heldSlots } = await import('../../src/kernels/read-slots.js');
const { Engine, chunkSource, listExtents, lookupObject, putObject, readObject } = await import('../../src/store/index.js');
const { parsePolicy } = await import('../../src/pool/index.js');

test.after(() => {
  rmSync(root, { recursive: true, force: true });
});

test('a disk never has more reads than its bound; a client waits for a place, a freed place goes on', async () => {
  const gate = new DiskGate();
  gate.configure(2, 50);
  await gate.acquire(3);
  await gate.acquire(3);
  assert.is(gate.stats(3).inFlight, 2);
  let third = false;
  const waiting = gate.acquire(3).then(() => { third = true; });
  await new Promise((r) => setTimeout(r, 30));
  assert.is(third, false, 'the third read waits');
  // Another disk is not held up by this one.
  await gate.acquire(4);
  gate.release(3, process.hrtime.bigint());
  await waiting;
  assert.is(third, true);
  assert.is(gate.stats(3).inFlight, 2);
  assert.is(gate.stats(4).inFlight, 1);
});

test('a background read takes at most half the bound, and none while a client waits for the disk', async () => {
  const gate = new DiskGate();
  gate.configure(4, 50);
  await gate.acquire(0, true);
  await gate.acquire(0, true);
  let third = false;
  const bg = gate.acquire(0, true).then(() => { third = true; });
  await new Promise((r) => setTimeout(r, 30));
  assert.is(third, false, 'background holds two of four places at most');
  // Clients fill the disk; one more waits, and the background read must not pass it.
  await gate.acquire(0);
  await gate.acquire(0);
  let client = false;
  const fg = gate.acquire(0).then(() => { client = true; });
  gate.release(0, process.hrtime.bigint()); // one background read done: 3 in flight, 1 client waiting
  await fg;
  assert.is(client, true, 'the waiting client got the place');
  assert.is(third, false, 'the background read is still behind');
  for (let i = 0; i < 3; i++) gate.release(0, process.hrtime.bigint());
  await bg;
  assert.is(third, true);
});

test('read times land in the histogram, and the recent time follows them', async () => {
  const gate = new DiskGate();
  const before = gate.stats(7);
  await gate.acquire(7);
  const started = process.hrtime.bigint() - 3_000_000n; // a read of 3 ms
  gate.release(7, started);
  const after = gate.stats(7);
  assert.is(after.reads, before.reads + 1);
  const bucket = READ_TIME_BUCKETS.findIndex((b) => b >= 0.003);
  assert.is(after.counts[bucket]! - before.counts[bucket]!, 1);
  assert.ok(after.sumSeconds - before.sumSeconds >= 0.003);
  assert.ok(gate.recentMicros(7) > 0);
});

async function getTimed(engine: import('../../src/store/index.js').Engine, key: string): Promise<{ ms: number; bytes: Buffer }> {
  const start = Date.now();
  const chunks: Buffer[] = [];
  for await (const chunk of readObject(engine, lookupObject(engine, key))) chunks.push(Buffer.from(chunk));
  return { ms: Date.now() - start, bytes: Buffer.concat(chunks) };
}

test('an EC get reads around a slow disk from parity: exact bytes, hedges counted, far faster than waiting', async () => {
  await Engine.init(join(root, 'pool'), { disks, policy: 'ec:4+2', extentSize: '256K' }).close();
  const engine = Engine.open(join(root, 'pool'), { cacheBytes: 0 });
  try {
    const bytes = randomBytes(8 * 256 * 1024, 7);
    async function* one() {
      yield bytes;
    }
    await putObject(engine, chunkSource(one(), bytes.length), 'big');
    engine.updateConfig({ ...engine.config, reads: { perDiskInFlight: 4, hedgeAfterMs: 40 } });
    const hedgesBefore = diskGate().hedges;
    const hedged = await getTimed(engine, 'big');
    assert.ok(hedged.bytes.equals(Buffer.from(bytes)), 'the bytes are exact');
    assert.ok(diskGate().hedges > hedgesBefore, 'hedges counted');
    // Hedging off: the same get waits for the slow disk.
    engine.updateConfig({ ...engine.config, reads: { perDiskInFlight: 4, hedgeAfterMs: 0 } });
    const waited = await getTimed(engine, 'big');
    assert.ok(waited.bytes.equals(Buffer.from(bytes)));
    assert.ok(waited.ms >= SLOW_MS, `without hedging the get waits for the disk (${waited.ms} ms)`);
    assert.ok(hedged.ms < waited.ms / 2, `hedged ${hedged.ms} ms against ${waited.ms} ms waiting`);

    // Replicas: the next one is read when the first is late, into a slot of its own (or first, once its disk
    // is known slow). Enough extents that some have their first replica on the slow disk (the test checks).
    const many = randomBytes(48 * 256 * 1024, 8);
    async function* all() {
      yield many;
    }
    await putObject(engine, chunkSource(all(), many.length), 'copies', { policy: parsePolicy('replication:3') });
    const slowFirst = [...listExtents(engine, { key: 'copies' })].filter((e) => e.fragments.find((f) => f.index === 0)?.path?.startsWith(disks[0]!));
    assert.ok(slowFirst.length > 0, 'some extent has its first replica on the slow disk');
    engine.updateConfig({ ...engine.config, reads: { perDiskInFlight: 4, hedgeAfterMs: 40 } });
    const replicaHedgesBefore = diskGate().hedges;
    const replicaHedged = await getTimed(engine, 'copies');
    assert.ok(replicaHedged.bytes.equals(Buffer.from(many)), 'the replicated bytes are exact');
    assert.ok(diskGate().hedges > replicaHedgesBefore, 'replica hedges counted');
    assert.ok(replicaHedged.ms < SLOW_MS, `a replicated get around the slow disk took ${replicaHedged.ms} ms`);
  } finally {
    await engine.close();
  }
});

test('a pool closed while a late read is still out leaves no read slot held', async () => {
  await Engine.init(join(root, 'fresh'), { disks: fresh, policy: 'ec:4+2', extentSize: '256K' }).close();
  const engine = Engine.open(join(root, 'fresh'), { cacheBytes: 0 });
  const bytes = randomBytes(6 * 256 * 1024, 9);
  try {
    async function* one() {
      yield bytes;
    }
    await putObject(engine, chunkSource(one(), bytes.length), 'one');
    const slowData = [...listExtents(engine, { key: 'one' })].filter((e) => e.fragments.some((f) => f.index < 4 && f.path?.startsWith(fresh[0]!)));
    assert.ok(slowData.length > 0, 'some extent has a data fragment on the slow disk');
    engine.updateConfig({ ...engine.config, reads: { perDiskInFlight: 4, hedgeAfterMs: 40 } });
    const got = await getTimed(engine, 'one');
    assert.ok(got.bytes.equals(Buffer.from(bytes)));
    assert.ok(got.ms < SLOW_MS, `read around the slow disk (${got.ms} ms)`);
  } finally {
    // The read of the slow fragment is still out in the worker, in a slot of its own: the worker stops with it.
    await engine.close();
  }
  assert.is(heldSlots(), 0, 'the stopped worker\'s memory is let go, not counted held for ever');
});

test.run();
