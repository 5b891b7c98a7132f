// Bad input through the real CLI: exit 1, one coded line, no stack trace,
// and nothing half-written.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cli, expectCoded, fragmentFiles, makePool, tempDir, type TestPool } from '../helpers/cli.js';

let pool: TestPool;
let other: TestPool;
/** Folders the tests made for pools that must not come to be; removed at the end. */
const scratch: string[] = [];
const scratchDir = (): string => {
  const dir = tempDir();
  scratch.push(dir);
  return dir;
};

test.before(() => {
  pool = makePool({ disks: 3, policy: 'ec:2+1', extentSize: '64KiB' });
  other = makePool({ disks: 1, policy: 'replication:1' });
  const f = pool.file('seed', 100_000, 3);
  assert.is(pool.run('put', f.path, '--key', 'seed').code, 0);
});
test.after(() => {
  pool.cleanup();
  other.cleanup();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function unchanged(check: () => void): void {
  const files = fragmentFiles(pool.disks);
  const objects = pool.run('ls', '--json').json.objects;
  check();
  assert.equal(fragmentFiles(pool.disks), files, 'fragment files changed');
  assert.equal(pool.run('ls', '--json').json.objects, objects, 'objects changed');
}

function fails(r: ReturnType<typeof cli>, code: string): void {
  const problem = expectCoded(r, code);
  assert.is(problem, null, problem ?? '');
  assert.not.match(r.stderr, /\n\s+at /);
}

test('unknown keys: get, stat, rm, change-policy', () => {
  unchanged(() => {
    fails(pool.run('get', 'nope'), 'DFS_ERR_OBJECT_NOT_FOUND');
    fails(pool.run('stat', 'nope'), 'DFS_ERR_OBJECT_NOT_FOUND');
    fails(pool.run('rm', 'nope'), 'DFS_ERR_OBJECT_NOT_FOUND');
    fails(pool.run('change-policy', 'nope', '--policy', 'ec:2+1'), 'DFS_ERR_OBJECT_NOT_FOUND');
    const j = pool.run('get', 'nope', '-o', join(pool.root, 'x'), '--json');
    assert.is(j.json.error.code, 'DFS_ERR_OBJECT_NOT_FOUND');
    assert.not.ok(existsSync(join(pool.root, 'x')));
  });
});

test('malformed and impossible policies', () => {
  const f = pool.file('p', 1000, 1);
  unchanged(() => {
    for (const bad of ['raid5', 'ec:4', 'ec:0+1', 'ec:33+1', 'ec:4+17', 'replication:0', 'replication:9', '']) {
      fails(pool.run('put', f.path, '--key', 'p', '--policy', bad), 'DFS_ERR_POLICY_INVALID');
    }
    // Well-formed, but the pool has 3 disks.
    const r = pool.run('put', f.path, '--key', 'p', '--policy', 'ec:4+2');
    fails(r, 'DFS_ERR_POLICY_UNSATISFIABLE');
    assert.match(r.stderr, /ec:4\+2 needs 6 distinct healthy disks, the pool has 3/);
    fails(pool.run('put', f.path, '--key', 'p', '--policy', 'replication:4'), 'DFS_ERR_POLICY_UNSATISFIABLE');
    fails(pool.run('change-policy', 'seed', '--policy', 'replication:5'), 'DFS_ERR_POLICY_UNSATISFIABLE');
  });
  const root = scratchDir();
  fails(cli(['--pool', join(root, 'p'), 'init', '--policy', 'ec:4+x']), 'DFS_ERR_POLICY_INVALID');
  fails(cli(['--pool', join(root, 'p'), 'init', '--extent-size', 'huge']), 'DFS_ERR_SIZE_INVALID');
  fails(cli(['--pool', join(root, 'p'), 'init', '--extent-size', '100']), 'DFS_ERR_SIZE_INVALID');
  assert.not.ok(existsSync(join(root, 'p', 'pool.json')));
});

test('missing input file, directory as input, stdin without --key, bad keys', () => {
  unchanged(() => {
    fails(pool.run('put', join(pool.root, 'does-not-exist')), 'DFS_ERR_INPUT_NOT_FOUND');
    fails(pool.run('put', pool.root, '--key', 'dir'), 'DFS_ERR_INPUT_NOT_FILE');
    fails(pool.runWith({ input: 'abc' }, 'put', '-'), 'DFS_ERR_CLI_USAGE');
    fails(pool.runWith({ input: 'abc' }, 'put', '-', '--key', 'k'.repeat(1089)), 'DFS_ERR_OBJECT_KEY_INVALID');
    fails(pool.runWith({ input: 'abc' }, 'put', '-', '--key', ''), 'DFS_ERR_OBJECT_KEY_INVALID');
  });
  // Traversal-looking keys are ordinary keys: stored, read back, nothing outside the disks touched.
  const r = pool.runWith({ input: 'hello' }, 'put', '-', '--key', '../../etc/passwd', '--json');
  assert.is(r.code, 0, r.stderr);
  assert.is(pool.run('get', '../../etc/passwd').stdout, 'hello');
  assert.is(pool.run('rm', '../../etc/passwd').code, 0);
});

test('missing disk folder, not a pool, a disk of another pool, a disk twice', () => {
  fails(pool.run('add-disk', '--disk', join(pool.root, 'no-such-disk')), 'DFS_ERR_DISK_NOT_FOUND');
  const root = scratchDir();
  mkdirSync(join(root, 'd1'));
  fails(cli(['--pool', join(root, 'p'), 'init', '--disk', join(root, 'd1'), '--disk', join(root, 'missing')]), 'DFS_ERR_DISK_NOT_FOUND');
  assert.not.ok(existsSync(join(root, 'p', 'pool.json')), 'init left a pool behind');
  assert.equal(readdirSync(join(root, 'd1')), [], 'init labelled a disk before failing');
  fails(cli(['--pool', root, 'ls']), 'DFS_ERR_POOL_NOT_FOUND');
  fails(cli(['--pool', join(root, 'nowhere'), 'status']), 'DFS_ERR_POOL_NOT_FOUND');
  fails(cli(['ls'], { env: { DYNAMICFS_POOL: '' } }), 'DFS_ERR_POOL_REQUIRED');
  fails(cli(['--pool', pool.pool, 'init']), 'DFS_ERR_POOL_EXISTS');
  const foreign = other.disks[0]!;
  const label = readFileSync(join(foreign, 'dynamicfs-disk.json'), 'utf8');
  fails(pool.run('add-disk', '--disk', foreign), 'DFS_ERR_DISK_FOREIGN');
  assert.is(readFileSync(join(foreign, 'dynamicfs-disk.json'), 'utf8'), label, 'foreign label rewritten');
  fails(pool.run('add-disk', '--disk', pool.disks[0]!), 'DFS_ERR_DISK_DUPLICATE');
  fails(pool.run('fail-disk', '--disk', 'disk-nope'), 'DFS_ERR_DISK_UNKNOWN');
  assert.is(pool.run('list-disks', '--json').json.disks.length, 3);
});

test('--json errors are one JSON document on stdout', () => {
  const r = pool.run('stat', 'nope', '--json');
  assert.is(r.code, 1);
  assert.equal(Object.keys(r.json.error).sort(), ['code', 'message']);
  const usage = pool.run('get', 'seed', '--json');
  assert.is(usage.json.error.code, 'DFS_ERR_CLI_USAGE');
});

test.run();
