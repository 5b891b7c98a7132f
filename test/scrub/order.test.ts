// The pass's order and reach on a real pool: suspect extents first, then
// least redundancy margin, then oldest verification; every extent exactly
// once, also across a stop and resume; `--older-than` checks only extents
// verified longer ago; a light pass finds missing, truncated and misplaced
// fragments without reading payloads (and cannot see a flipped payload bit).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, chunkSource, putObject, fragmentPath } from '../../src/store/index.js';
import { parsePolicy } from '../../src/pool/index.js';
import { ScrubService } from '../../src/scrub/index.js';
import { newPass, runPass, type PassControl, type PassState, type StopReason } from '../../src/scrub/pass.js';
import { RepairQueue } from '../../src/scrub/repair-queue.js';
import type { ExtentWithFragments } from '../../src/catalog/index.js';
import { randomBytes } from '../helpers/gf-reference.js';
import { tempDir } from '../helpers/cli.js';

const EXTENT = 16 * 1024;

async function withPool(fn: (engine: Engine) => Promise<void>): Promise<void> {
  const root = tempDir('dfs-scrub-order-');
  const paths = Array.from({ length: 6 }, (_, i) => join(root, `d${i}`));
  for (const p of paths) mkdirSync(p);
  const engine = Engine.init(join(root, 'pool'), { extentSize: EXTENT, disks: paths, policy: 'ec:4+2' });
  try {
    await fn(engine);
  } finally {
    await engine.close();
    rmSync(root, { recursive: true, force: true });
  }
}

async function put(engine: Engine, key: string, extents: number, seed: number, policy?: string): Promise<ExtentWithFragments[]> {
  const bytes = randomBytes(extents * EXTENT, seed);
  async function* chunks() {
    yield bytes;
  }
  await putObject(engine, chunkSource(chunks(), bytes.length), key, policy ? { policy: parsePolicy(policy) } : {});
  return engine.catalog.extentsOfObject(engine.catalog.object(key)!.id);
}

function pathOf(engine: Engine, extent: ExtentWithFragments, index: number): string {
  const f = extent.fragments.find((x) => x.index === index)!;
  return fragmentPath(engine.catalog.disk(f.diskId)!.path, extent.id, index);
}

/** Runs a pass, recording the order extents were sent to be checked; `stopAfter` pages asks it to pause. */
async function run(engine: Engine, pass: PassState, options: { stopAfter?: number } = {}): Promise<{ order: string[]; finished: boolean }> {
  const order: string[] = [];
  let pages = 0;
  const control: PassControl = {
    intensity: () => 'medium', // pages of five, one at a time: a pause lands between pages
    maxRate: () => null,
    stopRequested: (): StopReason | null => (options.stopAfter !== undefined && pages >= options.stopAfter ? 'pause' : null),
    checkpoint: () => {},
    checkpointMs: Infinity,
    queue: new RepairQueue(engine, { ratePerSecond: () => 100 }),
    maxRepairsPerPass: 1000,
    totals: { completed: 0, extentsScanned: 0, bytesScanned: 0, issuesFound: 0, repairsAttempted: 0, repairsSuccessful: 0 },
    onDispatch: (page) => {
      pages++;
      order.push(...page.map((e) => e.id));
    },
  };
  const outcome = await runPass(engine, pass, control);
  return { order, finished: outcome.finished };
}

test('suspects first, then least margin, then oldest verification; every extent once, across a pause and resume', () => withPool(async (engine) => {
  const ec = await put(engine, 'ec', 6, 1); // margin 2
  const two = await put(engine, 'two', 4, 2, 'replication:2'); // margin 1
  const three = await put(engine, 'three', 4, 3, 'replication:3'); // margin 2
  const now = Date.now();
  // Verified long ago, recently, and never: the older come first within a margin.
  engine.catalog.markVerified(ec.slice(0, 3).map((e) => e.id), now - 3 * 3600_000);
  engine.catalog.markVerified(three.map((e) => e.id), now - 5 * 3600_000);
  engine.catalog.markVerified(ec.slice(3).map((e) => e.id), now - 600_000);
  // A read found a bad fragment of one ec extent: a suspect, margin 1 (5 good of 6, 4 needed).
  const suspect = ec[4]!;
  engine.catalog.recordProblems(suspect.id, [{ index: 0, diskId: suspect.fragments[0]!.diskId, kind: 'checksum_mismatch' }], 'read');

  const pass = newPass(engine, { trigger: 'cli', repair: false, dryRun: true });
  assert.is(pass.order, 'risk');
  assert.equal(pass.suspects, [suspect.id]);
  const first = await run(engine, pass, { stopAfter: 2 });
  assert.is(first.finished, false, 'paused part-way');
  // A resumed pass goes on from its place (a write meanwhile waits for the next pass).
  await put(engine, 'late', 2, 4);
  const rest = await run(engine, pass);
  assert.is(rest.finished, true);
  const order = [...first.order, ...rest.order];

  const expected = [
    suspect.id,
    // margin 1: replication:2, never verified, in catalogue order
    ...two.map((e) => e.id),
    // margin 2: never verified (ec[...]? none), then by age: replication:3 (5 h), ec[0..2] (3 h), ec[3], ec[5] (10 min)
    ...three.map((e) => e.id),
    ...ec.slice(0, 3).map((e) => e.id),
    ec[3]!.id, ec[5]!.id,
  ];
  assert.equal(order, expected, 'the risk order, each extent once');
  assert.ok(first.order.length > 0 && rest.order.length > 0);
}));

test('--older-than checks only extents verified longer ago (and suspects); a pass verified stays out of its own range', () => withPool(async (engine) => {
  const old = await put(engine, 'old', 5, 11);
  const fresh = await put(engine, 'fresh', 5, 12);
  const now = Date.now();
  engine.catalog.markVerified(old.map((e) => e.id), now - 2 * 86_400_000);
  engine.catalog.markVerified(fresh.map((e) => e.id), now - 3600_000);
  const pass = newPass(engine, { trigger: 'cli', repair: false, dryRun: false, olderThanMs: 86_400_000 });
  assert.is(pass.extentsTotal, old.length);
  const { order } = await run(engine, pass);
  assert.equal([...order].sort(), old.map((e) => e.id).sort(), 'only the old ones');
  // Through the service, as `scrub --older-than 1d` runs it: now nothing is that old.
  const summary = await new ScrubService(engine).runOnce({ olderThan: '1d' });
  assert.is(summary.extentsScanned, 0);
  assert.is(summary.olderThanSeconds, 86_400);
  // The old ones were verified just now by the first pass: only the fresh ones (an hour ago) are over 30 minutes.
  const half = await new ScrubService(engine).runOnce({ olderThan: '30m' });
  assert.is(half.extentsScanned, fresh.length);
  let error: unknown = null;
  try {
    await new ScrubService(engine).runOnce({ olderThan: 'soon' });
  } catch (e) {
    error = e;
  }
  assert.is((error as { code?: string })?.code, 'DFS_ERR_SCRUB_DURATION_INVALID');
}));

test('a light pass finds missing, truncated and misplaced fragments without reading payloads', () => withPool(async (engine) => {
  const extents = await put(engine, 'x', 8, 21);
  const [missing, truncated, misplaced, flipped] = extents;
  rmSync(pathOf(engine, missing!, 1));
  truncateSync(pathOf(engine, truncated!, 2), 200);
  copyFileSync(pathOf(engine, extents[6]!, 3), pathOf(engine, misplaced!, 3));
  const flip = pathOf(engine, flipped!, 0);
  const b = readFileSync(flip);
  b[b.length - 1]! ^= 1;
  writeFileSync(flip, b);
  const verifiedBefore = engine.catalog.extent(extents[7]!.id)!.verifiedAt;

  const summary = await new ScrubService(engine).runOnce({ light: true });
  assert.is(summary.light, true);
  assert.is(summary.extentsScanned, extents.length);
  const found = summary.problems.map((p) => `${p.extent}/${p.fragment}:${p.kind}`).sort();
  assert.equal(found, [`${missing!.id}/1:missing`, `${truncated!.id}/2:truncated`, `${misplaced!.id}/3:misplaced`].sort());
  // Headers only: far less than one payload per fragment.
  const fragments = extents.length * 6;
  assert.ok(summary.bytesScanned <= fragments * 4096, `read ${summary.bytesScanned} bytes for ${fragments} fragments`);
  assert.is(engine.catalog.extent(extents[7]!.id)!.verifiedAt, verifiedBefore, 'a light check is not a verification');

  // The deep pass sees the flipped bit the light one could not, and a light pass does not clear it afterwards.
  const deep = await new ScrubService(engine).runOnce({});
  assert.ok(deep.problems.some((p) => p.extent === flipped!.id && p.kind === 'checksum_mismatch'));
  await new ScrubService(engine).runOnce({ light: true });
  assert.ok(engine.catalog.extent(flipped!.id)!.fragments.find((f) => f.index === 0)!.state !== 'ok', 'still known bad');
}));

test.run();
