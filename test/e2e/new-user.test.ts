// What a new user runs into, each as it was found: a damaged catalogue, a
// drain that cannot finish, change-policy --all past a lost object, a
// recovered catalogue that is not verified, an interrupted put, the CLI's
// edges (no command, a closed pipe, control characters, directories), pools
// too small for their policy, and the messages and metrics around them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, cli, expectCoded, fragmentFiles, makePool, tempDir, type CliResult, type TestPool } from '../helpers/cli.js';
import { waitFor } from '../helpers/daemon.js';

function fails(r: CliResult, code: string): string {
  const problem = expectCoded(r, code);
  assert.is(problem, null, problem ?? '');
  return r.stderr;
}

test('a truncated or overwritten catalogue is reported as damaged, never taken for an empty pool', () =>
  withPool6(async (pool) => {
    pool.run('put', pool.file('a', 300_000).path, '--key', 'a');
    const catalog = join(pool.pool, 'catalog.db');
    const copy = readFileSync(catalog);
    writeFileSync(catalog, '');
    for (const args of [['status'], ['scrub'], ['ls'], ['add-disk', '--disk', pool.disks[0]!]]) {
      assert.match(fails(pool.run(...args), 'DFS_ERR_CATALOG_CORRUPT'), /recover-catalog/, args.join(' '));
    }
    assert.is(statSync(catalog).size, 0, 'a new catalogue was created over the empty file');
    // Pages overwritten with garbage (the header page left alone).
    const damaged = Buffer.from(copy);
    for (let at = 4096; at < damaged.length; at++) damaged[at] = (at * 7919) & 0xff;
    writeFileSync(catalog, damaged);
    assert.match(fails(pool.run('ls'), 'DFS_ERR_CATALOG_CORRUPT'), /recover-catalog/);
  }));

test('a pool.json whose poolId was changed says that pool.json and the catalogue disagree', () =>
  withPool6(async (pool) => {
    pool.editConfig((config) => {
      config.poolId = '00000000-0000-4000-8000-000000000000';
    });
    assert.match(fails(pool.run('status'), 'DFS_ERR_CATALOG_POOL_MISMATCH'), /pool\.json says 0{8}-.*catalog\.db says [0-9a-f-]{36}; put the catalogue.s poolId back/);
  }));

test('remove-disk that cannot finish is refused before it starts, and the disk keeps its state', () => {
  const pool = makePool({ disks: 2, policy: 'replication:2' });
  try {
    assert.is(pool.run('put', pool.file('r', 5000).path, '--key', 'r').code, 0);
    const stderr = fails(pool.run('remove-disk', '--disk', pool.disks[0]!), 'DFS_ERR_DISK_DRAIN_INCOMPLETE');
    assert.match(stderr, /replication:2 extents, which need 2 distinct disks; the pool has 1 other healthy disk/);
    const disks = pool.run('list-disks', '--json').json.disks as { state: string }[];
    assert.equal(disks.map((d) => d.state), ['healthy', 'healthy'], 'a disk was left draining');
    assert.is(pool.run('health').code, 0);
  } finally {
    pool.cleanup();
  }
});

test('change-policy --all skips and reports an object it cannot move, moves the rest, keeps creation times', () =>
  withPool6(async (pool) => {
    for (const k of ['a', 'b', 'c']) assert.is(pool.run('put', pool.file(k, 70_000, k.charCodeAt(0)).path, '--key', k).code, 0);
    const before = new Map((pool.run('ls', '--json').json.objects as { key: string; createdAt: string }[]).map((o) => [o.key, o.createdAt]));
    // Every fragment of b's only extent is gone: b is unrecoverable.
    const b = pool.run('list-extents', '--key', 'b', '--json').json.extents[0] as { fragments: { path: string }[] };
    for (const f of b.fragments) rmSync(f.path);
    const r = pool.run('change-policy', '--all', '--policy', 'replication:2', '--json');
    assert.is(r.code, 3, r.stderr);
    assert.equal(r.json.failed.map((f: { key: string }) => f.key), ['b']);
    assert.is(r.json.failed[0].error.code, 'DFS_ERR_EXTENT_UNRECOVERABLE');
    assert.equal(r.json.changed.map((c: { key: string }) => c.key).sort(), ['a', 'c']);
    const after = pool.run('ls', '--json').json.objects as { key: string; policy: string; createdAt: string }[];
    for (const o of after) {
      assert.is(o.createdAt, before.get(o.key), `${o.key}: createdAt reset`);
      assert.is(o.policy, o.key === 'b' ? 'ec:4+2' : 'replication:2');
    }
    const human = pool.run('change-policy', '--all', '--policy', 'replication:2');
    assert.is(human.code, 3);
    assert.match(human.stdout, /"b": not moved: .*DFS_ERR_EXTENT_UNRECOVERABLE/);
  }));

test('after recover-catalog, health and status say the extents are unverified until a scrub', () =>
  withPool6(async (pool) => {
    assert.is(pool.run('put', pool.file('x', 200_000).path, '--key', 'x').code, 0);
    const [path] = fragmentFiles(pool.disks);
    const fd = openSync(path!, 'r+');
    writeSync(fd, Buffer.from('rot'), 0, 3, 500);
    closeSync(fd);
    rmSync(join(pool.pool, 'catalog.db'));
    assert.is(pool.run('recover-catalog').code, 0);
    const health = pool.run('health', '--json');
    assert.is(health.code, 3);
    assert.is(health.json.status, 'degraded');
    assert.is(health.json.checks.verification.status, 'degraded');
    assert.match(health.json.message, /unverified since recover-catalog.*scrub --repair/);
    assert.match(pool.run('status').stdout, /unverified: the catalogue was recovered/);
    assert.is(pool.run('scrub', '--dry-run').code, 3);
    assert.is(pool.run('health', '--json').json.checks.verification.status, 'degraded', 'a dry run verified nothing it could record');
    assert.is(pool.run('scrub', '--repair').code, 0);
    const healed = pool.run('health', '--json');
    assert.is(healed.json.status, 'healthy', JSON.stringify(healed.json));
    assert.not.match(pool.run('status').stdout, /unverified/);
  }));

test('a put stopped by SIGINT or SIGTERM removes what it wrote', () =>
  withPool6(async (pool) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const child = spawn(process.execPath, [BIN, '--pool', pool.pool, 'put', '/dev/zero', '--key', 'zero'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      // Wait until it has written fragments of several extents.
      await waitFor('fragments written', () => (fragmentFiles(pool.disks).length >= 18 ? true : null), 30_000);
      child.kill(signal);
      assert.is(await exited, 1, stderr);
      assert.match(stderr, /DFS_ERR_CLI_INTERRUPTED/);
      assert.equal(fragmentFiles(pool.disks), [], `${signal}: files left behind`);
      assert.is(pool.run('stat', 'zero').code, 1, 'the object exists');
    }
  }));

test('no command prints the usage; a closed pipe ends a command quietly', async () => {
  const r = cli([]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /^Usage: dynamicfs/);
  assert.match(r.stderr, /scrub-daemon/);
  assert.is(cli(['--json']).json.error.code, 'DFS_ERR_CLI_USAGE');
  const sub = cli(['put', '--help']);
  assert.is(sub.code, 0);
  assert.match(sub.stdout, /Global Options:[\s\S]*--pool/, 'subcommand help lacks the global options');
  assert.match(sub.stdout, /Examples:\n {2}\$ dynamicfs put/);

  await withPool6(async (pool) => {
    for (let i = 0; i < 30; i++) pool.run('put', pool.file(`f${i}`, 3000, i + 1).path, '--key', `k${i}`);
    const child = spawn(process.execPath, [BIN, '--pool', pool.pool, 'list-extents', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    // Like `| head -c 100`: read a little, then go away.
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    child.stdout!.destroy();
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.is(stderr, '', 'something was printed when the reader went away');
    assert.is(code, 0);
  });
});

test('control characters in keys are escaped in tables, never sent raw to the terminal', () =>
  withPool6(async (pool) => {
    const key = 'evil\x1b[31mred\rback\nline\x07';
    assert.is(pool.runWith({ input: 'x' }, 'put', '-', '--key', key).code, 0);
    const ls = pool.run('ls').stdout;
    assert.not.ok(/[\x00-\x08\x0b-\x1f\x7f]/.test(ls), 'raw control characters in ls');
    assert.is(ls.trim().split('\n').length, 2, 'the key broke the table into lines');
    assert.match(ls, /evil\\x1b\[31mred\\rback\\nline\\x07/);
    assert.match(pool.run('stat', key).stdout, /evil\\x1b/);
  }));

test('get into a directory and put of a directory get codes that fit', () =>
  withPool6(async (pool) => {
    assert.is(pool.run('put', pool.file('o', 1000).path, '--key', 'o').code, 0);
    assert.match(fails(pool.run('get', 'o', '-o', pool.root), 'DFS_ERR_OUTPUT_WRITE'), /is a directory/);
    assert.equal(readdirSync(pool.root).filter((n) => n.includes('partial')), [], 'a partial file was left');
    fails(pool.run('put', pool.root, '--key', 'd'), 'DFS_ERR_INPUT_NOT_FILE');
  }));

test('init and remove-disk warn when the pool cannot hold its default policy', () => {
  const root = tempDir();
  try {
    const disks = ['a', 'b', 'c'].map((d) => join(root, d));
    for (const d of disks) mkdirSync(d);
    const small = cli(['--pool', join(root, 'p1'), 'init', '--json', ...disks.flatMap((d) => ['--disk', d])]);
    assert.is(small.code, 0);
    assert.match(small.json.warnings[0], /ec:4\+2 needs 6 healthy disks and the pool has 3/);
    const none = cli(['--pool', join(root, 'p2'), 'init']);
    assert.match(none.stdout, /warning: the default policy ec:4\+2 needs 6 healthy disks and the pool has 0/);
    const fits = makePool({ disks: 6 });
    try {
      assert.equal(JSON.parse(cli(['--pool', join(root, 'p3'), 'init', '--json', ...fits.disks.map((d) => ['--disk', `${d}-x`]).flat()]).stdout || '{}').warnings ?? null, null);
      const removed = fits.run('remove-disk', '--disk', fits.disks[5]!, '--json');
      assert.is(removed.code, 0, removed.stderr);
      assert.match(removed.json.warnings[0], /needs 6 healthy disks and the pool has 5/);
    } finally {
      fits.cleanup();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('messages say a thing once; --max-rate 0 means no cap; a dry run says it recorded nothing', () =>
  withPool6(async (pool) => {
    const bad = fails(pool.run('scrub', '--intensity', 'fast'), 'DFS_ERR_SCRUB_INTENSITY_INVALID');
    assert.is(bad.match(/intensity must be/g)?.length, 1, bad);
    const rate = fails(pool.run('scrub', '--max-rate', 'fast'), 'DFS_ERR_SCRUB_RATE_INVALID');
    assert.match(rate, /or 0 \(or off\) for none/);
    assert.is(pool.run('scrub', '--max-rate', '0').code, 0);
    assert.is(pool.run('put', pool.file('d', 100_000).path, '--key', 'd').code, 0);
    const [path] = fragmentFiles(pool.disks);
    rmSync(path!);
    const dry = pool.run('scrub', '--dry-run');
    assert.is(dry.code, 3);
    assert.match(dry.stdout, /dry run: these problems were not recorded/);
    assert.match(dry.stdout, /\breported\b/);
    assert.match(pool.run('scrub', '--dry-run', '--repair').stdout, /would_repair/);
    // The schedule shows itself with no flags; gc summarises unless asked for each file.
    assert.match(pool.run('scrub-schedule').stdout, /^scrub: .*\nschedule: nightly in 01:00-05:00/);
    const gc = pool.run('gc', '--dry-run');
    assert.is(gc.stdout.trim().split('\n').length, 1, gc.stdout);
    // Grammar: one of a thing is singular.
    const one = pool.run('scrub', '--repair').stdout;
    assert.match(one, /issues: 1 found, 1 repair attempted, 1 successful/);
  }));

test('metrics without a daemon leave out the counters only a daemon keeps, and say so', () =>
  withPool6(async (pool) => {
    assert.is(pool.run('put', pool.file('m', 1000).path, '--key', 'm').code, 0);
    const text = pool.run('metrics').stdout;
    assert.match(text, /^# no daemon runs: the pool's state only/);
    assert.match(text, /^dynamicfs_extents_healthy 1$/m);
    for (const name of ['dynamicfs_disk_writes_total', 'dynamicfs_disk_errors_total', 'dynamicfs_cache_hits', 'dynamicfs_rebuilds_attempted', 'dynamicfs_scrub_issues_found']) {
      assert.not.match(text, new RegExp(`^${name}[ {]`, 'm'), `${name} shown as if counted`);
    }
    assert.match(pool.run('metrics', '--json').json.note, /belong to a running daemon/);
  }));

test('a disk a probe made suspect is healthy again after a clean probe; one an operator marked stays', () =>
  withPool6(async (pool) => {
    const disk = pool.disks[2]!;
    const states = (r: CliResult) => (r.json.disks as { state: string }[]).map((d) => d.state);
    const failing = pool.runWith({ env: { DYNAMICFS_FAULTS: JSON.stringify([{ op: 'fsync', disk, errno: 'EIO' }]) } }, 'probe-disks', '--json');
    assert.is(states(failing)[2], 'suspect');
    assert.is(states(pool.run('probe-disks', '--json'))[2], 'healthy', 'a clean probe left the probe-made suspect');
    pool.run('set-disk-health', '--disk', disk, '--state', 'suspect');
    assert.is(states(pool.run('probe-disks', '--json'))[2], 'suspect', 'a clean probe overrode the operator');
  }));

test('shell completion: a bash script that completes commands and their options', () => {
  const script = cli(['completion', 'bash']);
  assert.is(script.code, 0, script.stderr);
  const complete = (words: string[]) => {
    const r = spawnSync('bash', ['-c', `${script.stdout}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _dynamicfs; echo "\${COMPREPLY[*]}"`], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    return r.stdout.trim().split(/\s+/);
  };
  assert.equal(complete(['dynamicfs', 'scr']).sort(), ['scrub', 'scrub-daemon', 'scrub-schedule']);
  assert.ok(complete(['dynamicfs', '--pool', 'p', 'scrub', '--']).includes('--errors-only'));
  assert.ok(complete(['dynamicfs', 'put', '--p']).includes('--policy'));
  assert.is(cli(['completion', 'fish']).code, 1);
});

function pool6() {
  return makePool({ disks: 6, policy: 'ec:4+2', extentSize: '64KiB' });
}

/** Runs `fn` on a fresh six-disk ec:4+2 pool of 64 KiB extents, removed afterwards however `fn` ends. */
async function withPool6(fn: (pool: TestPool) => void | Promise<void>): Promise<void> {
  const pool = pool6();
  try {
    await fn(pool);
  } finally {
    pool.cleanup();
  }
}

test.run();
