// The scrubber's reads past the page cache (what it does at `low`): on a
// real pool, checks made with O_DIRECT judge fragments as the ordinary reads
// do (ok, damaged, truncated, missing), and their bytes come from the disk
// even where the page cache holds the file (read_bytes of /proc/self/io,
// which counts what this process's threads fetched from storage).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, constants, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, chunkSource, fragmentPath, putObject } from '../../src/store/index.js';
import type { ExtentWithFragments } from '../../src/catalog/index.js';
import { checkBatch, type Checked } from '../../src/scrub/page.js';
import { PACING } from '../../src/scrub/intensity.js';
import { randomBytes } from '../helpers/gf-reference.js';
import { tempDir } from '../helpers/cli.js';
import { storageReadBytes } from '../helpers/memory-load.js';

const MiB = 1024 * 1024;

/**
 * Whether read_bytes counts a direct read of this file here: one block read
 * with O_DIRECT (into WASM memory, whose pages are aligned). False on a
 * filesystem with no block device behind it, or with no O_DIRECT.
 */
function directReadsCounted(path: string): boolean {
  const before = storageReadBytes('self');
  if (before === null || !constants.O_DIRECT) return false;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_DIRECT);
  } catch {
    return false;
  }
  try {
    readSync(fd, new Uint8Array(new WebAssembly.Memory({ initial: 1 }).buffer, 0, 4096), 0, 4096, 0);
  } finally {
    closeSync(fd);
  }
  return storageReadBytes('self')! > before;
}

function statuses(checked: Checked[]): string[][] {
  return checked.map((c) => (c.outcomes ?? []).map((o) => o.status));
}

function pathOf(engine: Engine, extent: ExtentWithFragments, index: number): string {
  const f = extent.fragments.find((x) => x.index === index)!;
  return fragmentPath(engine.catalog.disk(f.diskId)!.path, extent.id, index);
}

test('low reads past the page cache', () => {
  assert.is(PACING.low.direct, true);
  assert.not.ok(PACING.medium.direct);
  assert.not.ok(PACING.high.direct);
});

test('checks past the page cache: the same verdicts as through it, and the bytes come from the disk', async () => {
  const root = tempDir('dfs-direct-');
  const disks = Array.from({ length: 6 }, (_, i) => join(root, `d${i}`));
  for (const d of disks) mkdirSync(d);
  const engine = Engine.init(join(root, 'pool'), { disks, policy: 'ec:4+2' });
  try {
    const bytes = randomBytes(3 * MiB, 7);
    async function* chunks() {
      yield bytes;
    }
    await putObject(engine, chunkSource(chunks(), bytes.length), 'three-extents');
    const extents = engine.catalog.extentsAfter(0, 10);
    assert.is(extents.length, 3);
    const fileBytes = extents.reduce((n, e) => n + e.fragments.reduce((m, f) => m + statSync(pathOf(engine, e, f.index)).size, 0), 0);
    const allOk = extents.map((e) => Array.from({ length: e.width }, () => 'ok'));

    // The files were just written: the page cache holds them. Through it, a check fetches (almost) nothing from the disk.
    const r0 = storageReadBytes('self');
    assert.equal(statuses(await checkBatch(engine, extents, { oneByOne: false })), allOk);
    const r1 = storageReadBytes('self');
    assert.equal(statuses(await checkBatch(engine, extents, { oneByOne: false, direct: true })), allOk);
    const r2 = storageReadBytes('self');
    if (!directReadsCounted(pathOf(engine, extents[0]!, 0))) console.log('  (reads that reach the disk are not counted here (no /proc/self/io, or no block device under the pool): where the bytes came from is not checked)');
    else {
      assert.ok(r2! - r1! >= fileBytes * 0.9, `a direct check fetched ${r2! - r1!} bytes from the disk for ${fileBytes} bytes of fragment files`);
      assert.ok(r1! - r0! < fileBytes / 2, `a check through the page cache fetched ${r1! - r0!} bytes from the disk for ${fileBytes} of cached files`);
    }

    // Damage, through the page cache: a direct read sees it (the kernel writes dirty pages back before it reads around them).
    const [e0, e1, e2] = extents as [ExtentWithFragments, ExtentWithFragments, ExtentWithFragments];
    const flipped = readFileSync(pathOf(engine, e0, 1));
    flipped[flipped.length - 100]! ^= 0x40;
    writeFileSync(pathOf(engine, e0, 1), flipped);
    truncateSync(pathOf(engine, e1, 2), statSync(pathOf(engine, e1, 2)).size - 4096);
    unlinkSync(pathOf(engine, e2, 5));
    const expected = [
      ['ok', 'checksum_mismatch', 'ok', 'ok', 'ok', 'ok'],
      ['ok', 'ok', 'truncated', 'ok', 'ok', 'ok'],
      ['ok', 'ok', 'ok', 'ok', 'ok', 'missing'],
    ];
    const direct = await checkBatch(engine, extents, { oneByOne: true, direct: true });
    assert.equal(statuses(direct), expected);
    assert.equal(statuses(await checkBatch(engine, extents, { oneByOne: false })), expected);
    // The damaged fragment's hash goes with its verdict, as through the page cache.
    assert.ok(typeof direct[0]!.outcomes![1]!.hash === 'bigint');
  } finally {
    await engine.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
