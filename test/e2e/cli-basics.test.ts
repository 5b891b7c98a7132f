// The real `dynamicfs` binary as a user runs it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
function run(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--version prints the package version', () => {
  const r = run('--version');
  assert.is(r.code, 0);
  assert.match(r.stdout, /^\d+\.\d+\.\d+/);
});

test('kernels --json is one JSON document naming a supported variant', () => {
  const r = run('--json', 'kernels');
  assert.is(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.ok(doc.supported.includes(doc.selected));
  const forced = spawnSync(process.execPath, [BIN, 'kernels', '--json'], { encoding: 'utf8', env: { ...process.env, DYNAMICFS_KERNEL: 'scalar' } });
  assert.is(JSON.parse(forced.stdout).selected, 'scalar');
});

test('an unknown command: exit 1, one coded line, no stack trace', () => {
  const r = run('frobnicate');
  assert.is(r.code, 1);
  assert.match(r.stderr, /^error: .*\(DFS_ERR_CLI_USAGE\)\n$/);
  assert.not.match(r.stderr, /\n\s+at /);
  const j = run('--json', 'frobnicate');
  assert.is(j.code, 1);
  assert.is(JSON.parse(j.stdout).error.code, 'DFS_ERR_CLI_USAGE');
});

test('a bad DYNAMICFS_KERNEL is a coded config error', () => {
  const r = spawnSync(process.execPath, [BIN, 'kernels'], { encoding: 'utf8', env: { ...process.env, DYNAMICFS_KERNEL: 'turbo' } });
  assert.is(r.status, 1);
  assert.match(r.stderr, /DFS_ERR_CONFIG_INVALID/);
  assert.not.match(r.stderr, /\n\s+at /);
});

test.run();
