// npm start on a fresh folder: creates the embedded pool under ./.dynamicfs/
// and runs the daemon; Ctrl-C (SIGINT) stops it cleanly. A second start
// reuses the pool.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/cli.js';
import { freePort, waitFor } from '../helpers/daemon.js';

const SCRIPT = fileURLToPath(new URL('../../../scripts/start.mjs', import.meta.url));

async function startOnce(cwd: string): Promise<{ output: string }> {
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, [SCRIPT], { cwd, env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
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
  child.kill('SIGINT');
  assert.is(await exited, 0, output);
  return { output };
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

test.run();
