// The background scrubber in a real daemon on loopback, steered by the CLI:
// start (becoming the daemon), status with progress and ETA, pause, resume,
// set-intensity, stop; a paused scrubber stays paused across a restart; a
// pass killed with SIGKILL resumes from its persisted cursor; the scrub
// metrics move with real work; the /v1/scrub routes are behind the token.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, makePool, type TestPool } from '../helpers/cli.js';

const EXTENT = 64 * 1024;
const EXTENTS = 150;
let pool: TestPool;
let daemon: ChildProcess | null = null;
let stderr = '';
let url = '';
let token = '';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, probe: () => T | null | Promise<T | null>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; daemon stderr: ${stderr.slice(-2000)}`);
    await sleep(100);
  }
}

async function startDaemon(args: string[]): Promise<void> {
  rmSync(join(pool.pool, 'run', 'daemon.json'), { force: true });
  stderr = '';
  daemon = spawn(process.execPath, [BIN, '--pool', pool.pool, ...args, '--port', '0', '--s3-port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DYNAMICFS_SCRUB_CHECKPOINT_MS: '300' },
  });
  daemon.stderr!.on('data', (d) => (stderr += d));
  url = await waitFor('daemon.json', () => {
    try {
      return (JSON.parse(readFileSync(join(pool.pool, 'run', 'daemon.json'), 'utf8')) as { url: string }).url;
    } catch {
      return null;
    }
  });
}

async function stopDaemon(signal: NodeJS.Signals): Promise<number | null> {
  const d = daemon!;
  const exited = new Promise<number | null>((resolve) => d.once('exit', (code) => resolve(code)));
  d.kill(signal);
  const code = await exited;
  daemon = null;
  return code;
}

interface Status {
  state: string;
  intensity: string;
  pass: { id: string; extentsDone: number; extentsTotal: number; bytesDone: number; eta: number | null; rateBytesPerSecond: number } | null;
  lastPass: { extentsScanned: number; issuesFound: number } | null;
  metrics: { extentsScanned: number };
}

function status(): Status {
  const r = pool.run('scrub-daemon', 'status', '--json');
  assert.is(r.code, 0, r.stderr);
  return r.json as Status;
}

const metric = async (name: string): Promise<number> => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
};

test.before(() => {
  pool = makePool({ disks: 7, extentSize: '64KiB' });
  token = readFileSync(join(pool.pool, 'token'), 'utf8').trim();
  const f = pool.file('big', EXTENTS * EXTENT, 5);
  assert.is(pool.run('put', f.path, '--key', 'big').code, 0);
  // A manual schedule: nothing starts on its own during the test.
  assert.is(pool.run('scrub-schedule', '--frequency', 'manual', '--intensity', 'low').code, 0);
});
test.after(async () => {
  if (daemon) daemon.kill('SIGKILL');
  pool.cleanup();
});

test('start becomes the daemon; status shows progress, no ETA at first, then a non-negative one', async () => {
  await startDaemon(['scrub-daemon', 'start']);
  const first = status();
  assert.is(first.state, 'running');
  assert.is(first.intensity, 'low');
  assert.is(first.pass!.extentsTotal, EXTENTS);
  assert.is(first.pass!.eta, null, 'an ETA before the rate means anything');
  const later = await waitFor('an ETA', () => {
    const s = status();
    return s.pass && s.pass.eta !== null ? s : null;
  });
  assert.ok(later.pass!.eta! >= 0);
  assert.ok(later.pass!.extentsDone > 0 && later.pass!.rateBytesPerSecond > 0);
  assert.is((await fetch(`${url}/v1/scrub/status`)).status, 401);
  const viaHttp = await fetch(`${url}/v1/scrub/status`, { headers: { authorization: `Bearer ${token}` } });
  assert.is(((await viaHttp.json()) as Status).state, 'running');
  const bad = await fetch(`${url}/v1/scrub/intensity`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"intensity":"ludicrous"}' });
  assert.is(bad.status, 400);
  assert.match(await bad.text(), /DFS_ERR_API_VALIDATION/);
  assert.is(await metric('dynamicfs_scrub_state{state="running"}'), 1);
});

test('pause holds the cursor; set-intensity applies live; paused survives a restart; resume continues from the cursor', async () => {
  const paused = pool.run('scrub-daemon', 'pause', '--json');
  assert.is(paused.code, 0, paused.stderr);
  assert.is(paused.json.state, 'paused');
  const at = paused.json.pass.extentsDone as number;
  await sleep(600);
  assert.is(status().pass!.extentsDone, at, 'a paused pass moved');
  const set = pool.run('scrub-daemon', 'set-intensity', '--intensity', 'medium', '--json');
  assert.is(set.json.intensity, 'medium');
  assert.is(JSON.parse(readFileSync(join(pool.pool, 'pool.json'), 'utf8')).scrub.intensity, 'medium');
  assert.is(await metric('dynamicfs_scrub_intensity{intensity="medium"}'), 1);

  assert.is(await stopDaemon('SIGTERM'), 0);
  await startDaemon(['serve']);
  const after = status();
  assert.is(after.state, 'paused');
  assert.is(after.pass!.extentsDone, at);
  await sleep(500);
  assert.is(status().pass!.extentsDone, at, 'paused, yet it moved after the restart');

  assert.is(pool.run('scrub-daemon', 'set-intensity', '--intensity', 'low').code, 0);
  const resumed = pool.run('scrub-daemon', 'resume', '--json');
  assert.is(resumed.json.state, 'running');
  await waitFor('progress after resume', () => (status().pass!.extentsDone > at + 3 ? true : null));
});

test('a pass killed with SIGKILL resumes from its persisted cursor', async () => {
  const before = await waitFor('a checkpoint past 40 extents', () => {
    const s = status();
    return s.pass && s.pass.extentsDone > 40 ? s.pass.extentsDone : null;
  });
  await sleep(700); // at least one checkpoint (every 300 ms here) after `before`
  await stopDaemon('SIGKILL');
  await startDaemon(['serve']);
  const s = status();
  assert.is(s.state, 'running');
  assert.ok(s.pass!.extentsDone >= before, `resumed at ${s.pass!.extentsDone}, had done ${before} before the kill`);
  const finished = pool.run('scrub-daemon', 'set-intensity', '--intensity', 'high');
  assert.is(finished.code, 0);
  const last = await waitFor('the pass to complete', () => {
    const x = status();
    return x.state === 'idle' && x.lastPass ? x : null;
  });
  // Every extent scanned once, plus at most the little redone after the kill.
  assert.ok(last.lastPass!.extentsScanned >= EXTENTS && last.lastPass!.extentsScanned <= EXTENTS + 10, `scanned ${last.lastPass!.extentsScanned}`);
  assert.is(last.pass, null);
  assert.ok((await metric('dynamicfs_scrubs_completed')) >= 1);
  assert.ok((await metric('dynamicfs_scrub_extents_scanned_total')) > 0);
  assert.ok(Number.isFinite(await metric('dynamicfs_scrub_last_completed_timestamp_seconds')));
  assert.match(await (await fetch(`${url}/metrics`)).text(), /dynamicfs_extent_verification_age_seconds_bucket\{le="3600"\} 150/);
  // The checks ran in the scrubber's own pool, and its tasks are timed with the others.
  assert.ok((await metric('dynamicfs_scrub_worker_threads')) >= 1);
  assert.ok((await metric('dynamicfs_worker_task_duration_seconds_count{op="scrubPage"}')) > 0);
});

test('a one-shot scrub --repair through the daemon moves the issue and repair metrics; stop stops', async () => {
  const extents = pool.run('list-extents', '--key', 'big', '--json').json.extents as { fragments: { path: string }[] }[];
  const path = extents[7]!.fragments[2]!.path;
  const bytes = readFileSync(path);
  bytes[bytes.length - 1]! ^= 0x80;
  writeFileSync(path, bytes);
  const issues = await metric('dynamicfs_scrub_issues_found');
  const r = pool.run('scrub', '--repair', '--intensity', 'high', '--json');
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.issuesFound, 1);
  assert.is(r.json.repairsSuccessful, 1);
  assert.is(await metric('dynamicfs_scrub_issues_found'), issues + 1);
  assert.ok((await metric('dynamicfs_scrub_repairs_attempted')) >= 1);
  assert.ok((await metric('dynamicfs_scrub_repairs_successful')) >= 1);
  const stopped = pool.run('scrub-daemon', 'stop', '--json');
  assert.is(stopped.json.state, 'stopped');
  assert.is(await metric('dynamicfs_scrub_state{state="stopped"}'), 1);
  assert.is(await stopDaemon('SIGTERM'), 0);
});

test.run();
