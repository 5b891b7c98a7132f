#!/usr/bin/env node
// npm run demo: DynamicFS in under a minute. A pool of seven directory disks
// in a temporary folder; files stored; fragments silently damaged and a disk
// lost; the damage found by a scrub and repaired from redundancy; status,
// metrics and health along the way. Every step prints the command it runs
// and what the command printed. Nothing outside the temporary folder is touched.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, unlinkSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'build', 'src', 'cli', 'main.js');
const work = mkdtempSync(join(tmpdir(), 'dynamicfs-demo-'));
const pool = join(work, 'pool');
const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
let stepNo = 0;
let daemon = null;

function step(title, text) {
  console.log(`\n${bold(`── ${++stepNo}. ${title}`)}`);
  if (text) console.log(text);
}

/** Runs a dynamicfs command on the demo pool, prints it and its output; returns the result. */
function dfs(args, { show = true, filter } = {}) {
  const r = spawnSync(process.execPath, [bin, '--pool', pool, ...args], { encoding: 'utf8', env: { ...process.env, DYNAMICFS_POOL: pool } });
  if (show) {
    console.log(`$ dynamicfs ${args.join(' ')}`);
    const out = filter ? r.stdout.split('\n').filter(filter).join('\n') : r.stdout.trimEnd();
    if (out) console.log(out.replace(/^/gm, '  '));
    if (r.stderr.trim()) console.log(r.stderr.trimEnd().replace(/^/gm, '  '));
    if (r.status !== 0) console.log(`  (exit ${r.status})`);
  }
  return r;
}

function cleanup() {
  if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

function must(ok, what) {
  if (!ok) {
    console.error(`\ndemo failed: ${what}`);
    process.exit(1);
  }
}

const started = Date.now();
console.log(bold('DynamicFS demo') + ` — everything happens in ${work}`);

step('Create a pool: seven folders stand in for seven disks; objects default to ec:4+2 (4 data + 2 parity fragments per extent).');
const disks = Array.from({ length: 7 }, (_, i) => join(work, `disk${i + 1}`));
for (const d of disks) mkdirSync(d);
must(dfs(['init', '--policy', 'ec:4+2', ...disks.flatMap((d) => ['--disk', d])]).status === 0, 'init');

step('Store three files: 6 MiB and 3 MiB of random bytes under ec:4+2, and a small text under replication:3.');
const files = { 'videos/launch.mp4': randomBytes(6 * 1024 * 1024), 'backups/db.dump': randomBytes(3 * 1024 * 1024 + 12345), 'notes/readme.txt': Buffer.from('Data never silently lost.\n'.repeat(40)) };
const sha = (b) => createHash('sha256').update(b).digest('hex').slice(0, 16);
for (const [key, bytes] of Object.entries(files)) {
  const path = join(work, key.replace(/\//g, '_'));
  writeFileSync(path, bytes);
  must(dfs(['put', path, '--key', key, ...(key.startsWith('notes/') ? ['--policy', 'replication:3'] : [])]).status === 0, `put ${key}`);
}
dfs(['ls']);

step('Damage it the way disks do: silent bit rot in one fragment, a torn (truncated) one, a deleted one — and then a whole disk vanishes.');
// Each object's own extents (a small one lives in a pack, an extent shared with other small objects).
const extentsOf = (key) => JSON.parse(dfs(['list-extents', '--key', key, '--json'], { show: false }).stdout).extents;
const fragmentOf = (key, seq, index) => extentsOf(key).find((e) => e.seq === seq).fragments.find((f) => f.index === index);
const rot = fragmentOf('videos/launch.mp4', 0, 1);
const fd = openSync(rot.path, 'r+');
writeSync(fd, Buffer.from('bit rot'), 0, 7, 4096);
closeSync(fd);
console.log(`  flipped bytes inside ${rot.path.slice(work.length + 1)}`);
const torn = fragmentOf('backups/db.dump', 1, 4);
truncateSync(torn.path, 1000);
console.log(`  truncated ${torn.path.slice(work.length + 1)} to 1000 bytes`);
const gone = fragmentOf('notes/readme.txt', 0, 0);
unlinkSync(gone.path);
console.log(`  deleted ${gone.path.slice(work.length + 1)}`);
// The disk that vanishes is one the damaged fragments are not on, so each kind of damage shows in the scrub.
const lostDisk = disks.findLast((d) => ![rot, torn, gone].some((f) => f.path.startsWith(`${d}/`)));
renameSync(lostDisk, `${lostDisk}.unplugged`);
console.log(`  renamed ${lostDisk.slice(work.length + 1)} away (a disk that is gone)`);

step('Reads still return exact bytes: every fragment is verified as it is read, bad ones are skipped and rebuilt around.');
for (const [key, bytes] of Object.entries(files)) {
  const r = spawnSync(process.execPath, [bin, '--pool', pool, 'get', key], { maxBuffer: 64 * 1024 * 1024 });
  must(r.status === 0, `get ${key}: ${r.stderr}`);
  const same = Buffer.compare(r.stdout, bytes) === 0;
  console.log(`$ dynamicfs get ${key} | sha256  →  ${sha(r.stdout)} ${same ? '(identical to what was stored)' : '(DIFFERENT)'}`);
  must(same, `content of ${key}`);
}
dfs(['health']);

step('Start the daemon (HTTP API, /metrics, /health, background scrubber) on a free loopback port.');
daemon = spawn(process.execPath, [bin, '--pool', pool, 'serve', '--port', '0', '--s3-port', '0', '--log-level', 'error'], { stdio: ['ignore', 'ignore', 'inherit'] });
let url = null;
for (let i = 0; i < 200 && !url; i++) {
  try {
    url = JSON.parse(readFileSync(join(pool, 'run', 'daemon.json'), 'utf8')).url;
  } catch {
    await new Promise((r) => setTimeout(r, 50));
  }
}
must(url, 'the daemon did not start');
console.log(`  daemon at ${url}; the CLI now goes through it`);

step('Scrub: every fragment of every extent is checked; with --repair, bad fragments are rebuilt from verified ones.');
const scrub = dfs(['scrub', '--repair']);
must(scrub.status === 0 || scrub.status === 3, 'scrub');

step('The scrub already re-created the vanished disk\'s fragments on healthy disks (it found them missing); rebuild confirms nothing is left, and the dead disk is retired.');
must(dfs(['rebuild']).status === 0, 'rebuild');
must(dfs(['remove-disk', '--disk', lostDisk]).status === 0, 'remove-disk');

step('A second scrub finds nothing wrong.');
must(dfs(['scrub']).status === 0, 'second scrub');

step('Status, health and a few metrics, as an operator or Prometheus sees them.');
dfs(['status']);
dfs(['health']);
const metrics = await (await fetch(`${url}/metrics`)).text();
console.log(`$ curl -s ${url}/metrics | grep …`);
for (const line of metrics.split('\n')) {
  if (/^dynamicfs_(extents_(healthy|degraded|unrecoverable)|scrubs_completed|scrub_issues_found|scrub_repairs_(attempted|successful)|rebuilds_successful|health_status\{status="healthy"\}) /.test(line)) console.log(`  ${line}`);
}
const health = await fetch(`${url}/health`);
console.log(`$ curl ${url}/health  →  HTTP ${health.status} ${JSON.parse(await health.text()).status}`);

step('Stop the daemon with SIGTERM: it checkpoints the scrubber and closes the catalogue.');
const exited = new Promise((r) => daemon.once('exit', r));
daemon.kill('SIGTERM');
console.log(`  daemon exited with code ${await exited}`);
console.log(`\n${bold('Done')} in ${((Date.now() - started) / 1000).toFixed(1)} s. Next: README.md, docs/SCRUBBING_GUIDE.md, docs/OPERATIONS.md.`);
