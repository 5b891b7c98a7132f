// npm start on a fresh folder: creates the embedded pool under ./.dynamicfs/
// and runs the daemon; Ctrl-C (SIGINT, to the script or its whole process
// group, once or twice) and SIGTERM stop it cleanly. A second start reuses
// the pool; a start while one runs says so at once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/cli.js';
import { freePort, sleep, waitFor } from '../helpers/daemon.js';

const SCRIPT = fileURLToPath(new URL('../../../scripts/start.mjs', import.meta.url));

type Stop = 'SIGINT' | 'group SIGINT' | 'group SIGTERM' | 'double group SIGINT';

/**
 * Starts `npm start`'s script in a process group of its own (as a terminal
 * runs a job) and stops it as `how` says: a signal to the script alone, or
 * to the whole group as Ctrl-C does (the daemon gets it directly and
 * forwarded), or Ctrl-C twice. Every way must exit 0 and leave run/ clean.
 */
async function startOnce(cwd: string, how: Stop = 'SIGINT'): Promise<{ output: string }> {
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, [SCRIPT], { cwd, env: { ...process.env, PORT: String(port), S3_PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const health = await waitFor('the daemon of npm start', async () => {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      return { status: r.status, body: (await r.json()) as { status: string } };
    } catch {
      return null;
    }
  }, 30_000, () => output.slice(-2000));
  assert.is(health.status, 200);
  assert.is(health.body.status, 'healthy');
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const run = join(cwd, '.dynamicfs', 'pool', 'run');
  const daemonPid = (JSON.parse(readFileSync(join(run, 'daemon.json'), 'utf8')) as { pid: number }).pid;
  if (how === 'SIGINT') child.kill('SIGINT');
  else process.kill(-child.pid!, how === 'group SIGTERM' ? 'SIGTERM' : 'SIGINT');
  if (how === 'double group SIGINT') {
    await sleep(700);
    try {
      process.kill(-child.pid!, 'SIGINT');
    } catch {
      // already gone
    }
  }
  assert.is(await exited, 0, `${how}: ${output}`);
  await waitFor('the daemon to exit', () => (isAlive(daemonPid) ? null : true), 15_000);
  assert.not.ok(existsSync(join(run, 'daemon.json')), `${how}: run/daemon.json left behind\n${output}`);
  assert.not.ok(existsSync(join(run, 'owner.lock')), `${how}: run/owner.lock left behind\n${output}`);
  assert.match(output, /"msg":"stopped"/, `${how}: the daemon never said it stopped`);
  return { output };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('npm start creates the embedded pool, serves it, and stops cleanly; a second start reuses it', async () => {
  const cwd = tempDir('dfs-start-');
  try {
    const first = await startOnce(cwd);
    assert.match(first.output, /creating the embedded pool/);
    assert.ok(existsSync(join(cwd, '.dynamicfs', 'pool', 'pool.json')));
    assert.ok(existsSync(join(cwd, '.dynamicfs', 'disks', 'd6')));
    const second = await startOnce(cwd);
    assert.not.match(second.output, /creating the embedded pool/);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('Ctrl-C to the whole group, SIGTERM to the group and a double Ctrl-C all stop cleanly (5 rounds of group Ctrl-C)', async () => {
  const cwd = tempDir('dfs-start-');
  try {
    for (let round = 0; round < 5; round++) await startOnce(cwd, 'group SIGINT');
    await startOnce(cwd, 'group SIGTERM');
    await startOnce(cwd, 'double group SIGINT');
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('a second npm start while the first runs says so before printing anything else', async () => {
  const cwd = tempDir('dfs-start-');
  const port = await freePort();
  const first = spawn(process.execPath, [SCRIPT], { cwd, env: { ...process.env, PORT: String(port), S3_PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await waitFor('the first daemon', async () => (existsSync(join(cwd, '.dynamicfs', 'pool', 'run', 'daemon.json')) ? true : null), 30_000);
    const second = spawnSync(process.execPath, [SCRIPT], { cwd, env: { ...process.env, PORT: String(await freePort()), S3_PORT: '0' }, encoding: 'utf8' });
    assert.is(second.status, 1);
    assert.match(second.stderr, /already runs/);
    assert.not.match(second.stdout, /Starting the daemon/);
  } finally {
    const exited = new Promise((resolve) => first.once('exit', resolve));
    first.kill('SIGINT');
    await exited;
    rmSync(cwd, { recursive: true, force: true });
  }
});

test.run();
