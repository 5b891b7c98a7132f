// The scrubber through the real CLI: a corruption matrix under replication:3
// and ec:4+2 — bit flip, truncation, zero-fill, deleted fragment, damaged
// header, a fragment of another extent swapped in — each fault found once
// with its kind; dry-run changes nothing; repair fixes everything from
// verified fragments; a second pass is clean. Past the redundancy: reported
// unrecoverable, exit 3, and `get` refuses with a code.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { expectCoded, fragmentFiles, makePool, type TestPool } from '../helpers/cli.js';
import { FAULTS } from '../helpers/damage.js';

const EXTENT = 64 * 1024;
const POLICIES = ['replication:3', 'ec:4+2'] as const;
let pool: TestPool;
const data = new Map<string, Uint8Array>();

interface Fragment { index: number; path: string; state: string; diskId: string }
interface Extent { id: string; seq: number; fragments: Fragment[] }
const extentsOf = (key: string): Extent[] => pool.run('list-extents', '--key', key, '--json').json.extents as Extent[];

function fileHashes(): Map<string, string> {
  return new Map(fragmentFiles(pool.disks).map((p) => {
    let h = 'absent';
    try {
      h = createHash('sha256').update(readFileSync(p)).digest('hex');
    } catch { /* raced away */ }
    return [p, h];
  }));
}


test.before(() => {
  pool = makePool({ disks: 7, extentSize: '64KiB' });
  for (const policy of POLICIES) {
    const f = pool.file(policy.replace(/\W/g, '_'), 6 * EXTENT + 321, policy.length);
    data.set(policy, f.bytes);
    assert.is(pool.run('put', f.path, '--key', policy, '--policy', policy).code, 0);
  }
});
test.after(() => pool.cleanup());

const exact = (key: string) => {
  const got = pool.run('get', key);
  assert.is(got.code, 0, got.stderr);
  assert.ok(Buffer.compare(got.raw, Buffer.from(data.get(key)!)) === 0, `${key}: bytes differ`);
};

test('a clean pool scrubs clean: exit 0, every fragment checked', () => {
  const r = pool.run('scrub', '--intensity', 'high', '--json');
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.extentsScanned, 14);
  assert.is(r.json.fragmentsChecked, 7 * 3 + 7 * 6);
  assert.is(r.json.issuesFound, 0);
  assert.equal(r.json.extents, { healthy: 14, degraded: 0, repaired: 0, unrecoverable: 0 });
});

test('the matrix within redundancy: dry-run finds each fault once and writes nothing; repair fixes all; a second pass is clean', () => {
  const expected: { key: string; seq: number; fragment: number; kind: string }[] = [];
  for (const policy of POLICIES) {
    const extents = extentsOf(policy);
    FAULTS.forEach((fault, seq) => {
      const target = extents[seq]!.fragments[1]!;
      const other = extents[(seq + 1) % extents.length]!.fragments[1]!;
      fault.apply(target, other);
      expected.push({ key: policy, seq, fragment: 1, kind: fault.kind });
    });
  }
  const before = fileHashes();
  const dry = pool.run('scrub', '--dry-run', '--repair', '--intensity', 'high', '--json');
  assert.is(dry.code, 3, dry.stderr);
  const found = (dry.json.problems as { key: string; seq: number; fragment: number; kind: string; action: string }[])
    .map(({ key, seq, fragment, kind }) => ({ key, seq, fragment, kind }))
    .sort((a, b) => a.key.localeCompare(b.key) || a.seq - b.seq);
  assert.equal(found, [...expected].sort((a, b) => a.key.localeCompare(b.key) || a.seq - b.seq));
  assert.is(dry.json.issuesFound, 12);
  assert.is(dry.json.repairsAttempted, 0);
  assert.ok(dry.json.problems.every((p: { action: string }) => p.action === 'would_repair'));
  assert.equal(fileHashes(), before, 'dry-run changed a fragment file');
  assert.equal(pool.run('list-extents', '--json').json.extents.flatMap((e: Extent) => e.fragments.map((f) => f.state)).filter((s: string) => s !== 'ok'), [], 'dry-run recorded problems');

  for (const policy of POLICIES) exact(policy);
  const fix = pool.run('scrub', '--repair', '--intensity', 'high', '--json');
  assert.is(fix.code, 0, fix.stdout + fix.stderr);
  assert.is(fix.json.issuesFound, 12);
  assert.is(fix.json.repairsAttempted, 12);
  assert.is(fix.json.repairsSuccessful, 12);
  assert.is(fix.json.extents.repaired, 12);
  assert.ok(fix.json.problems.every((p: { action: string }) => p.action === 'repaired'));
  for (const policy of POLICIES) exact(policy);

  const again = pool.run('scrub', '--intensity', 'high', '--json');
  assert.is(again.code, 0);
  assert.is(again.json.issuesFound, 0);
  assert.is(again.json.extents.healthy, 14);
  const status = pool.run('scrub-daemon', 'status', '--json');
  assert.is(status.code, 0);
  assert.is(status.json.lastPass.issuesFound, 0);
  assert.equal(status.json.problems, []);
});

test('past the redundancy: unrecoverable reported (exit 3, listed in status), get refuses with a code; --errors-only re-checks only those', () => {
  for (const [policy, count] of [['replication:3', 3], ['ec:4+2', 3]] as const) {
    const extent = extentsOf(policy)[2]!;
    for (const f of extent.fragments.slice(0, count)) {
      const b = readFileSync(f.path);
      b[b.length - 3]! ^= 0x01;
      writeFileSync(f.path, b);
    }
  }
  const r = pool.run('scrub', '--repair', '--intensity', 'high', '--json');
  assert.is(r.code, 3);
  assert.is(r.json.extents.unrecoverable, 2);
  assert.is(r.json.issuesFound, 6);
  assert.is(r.json.repairsAttempted, 0);
  assert.ok(r.json.problems.every((p: { action: string; seq: number }) => p.action === 'unrecoverable' && p.seq === 2));
  for (const policy of POLICIES) {
    const got = pool.run('get', policy);
    assert.is(expectCoded(got, 'DFS_ERR_EXTENT_UNRECOVERABLE'), null);
  }
  const status = pool.run('scrub-daemon', 'status', '--json');
  assert.is(status.json.problems.filter((p: { action: string }) => p.action === 'unrecoverable').length, 6);
  assert.ok(status.json.problems.every((p: { key: string; disk: string; kind: string }) => POLICIES.includes(p.key as never) && p.disk.startsWith('disk-') && p.kind === 'checksum_mismatch'));
  const human = pool.run('scrub-daemon', 'status');
  assert.match(human.stdout, /checksum_mismatch\s+unrecoverable/);

  const errorsOnly = pool.run('scrub', '--errors-only', '--json');
  assert.is(errorsOnly.code, 3);
  assert.is(errorsOnly.json.extentsScanned, 2);
  assert.is(errorsOnly.json.extents.unrecoverable, 2);
});

test('bad scrub options are refused with a code', () => {
  assert.is(expectCoded(pool.run('scrub', '--intensity', 'extreme'), 'DFS_ERR_SCRUB_INTENSITY_INVALID'), null);
  assert.is(expectCoded(pool.run('scrub', '--max-rate', '-5'), 'DFS_ERR_SCRUB_RATE_INVALID'), null);
  assert.is(expectCoded(pool.run('scrub-daemon', 'set-intensity', '--intensity', 'turbo'), 'DFS_ERR_SCRUB_INTENSITY_INVALID'), null);
  assert.is(expectCoded(pool.run('scrub-daemon', 'pause'), 'DFS_ERR_SCRUB_NO_DAEMON'), null);
  assert.is(expectCoded(pool.run('scrub-daemon', 'explode'), 'DFS_ERR_CLI_USAGE'), null);
  assert.is(expectCoded(pool.run('scrub-schedule', '--frequency', 'hourly'), 'DFS_ERR_SCRUB_SCHEDULE_INVALID'), null);
  assert.is(expectCoded(pool.run('scrub-schedule', '--frequency', 'nightly', '--window', '25:00-03:00'), 'DFS_ERR_SCRUB_SCHEDULE_INVALID'), null);
  assert.is(expectCoded(pool.run('scrub-schedule', '--frequency', 'nightly', '--dry-run', 'maybe'), 'DFS_ERR_SCRUB_SCHEDULE_INVALID'), null);
  const set = pool.run('scrub-schedule', '--frequency', 'continuous', '--intensity', 'medium', '--auto-repair', 'false', '--json');
  assert.is(set.code, 0, set.stderr);
  assert.is(set.json.schedule.frequency, 'continuous');
  assert.is(set.json.schedule.autoRepair, false);
  assert.is(set.json.intensity, 'medium');
  const config = JSON.parse(readFileSync(`${pool.pool}/pool.json`, 'utf8'));
  assert.is(config.scrub.frequency, 'continuous');
});

test.run();
