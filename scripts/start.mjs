#!/usr/bin/env node
// npm start: the daemon on the embedded default pool under ./.dynamicfs/
// (six directory disks, ec:4+2), created on first run; prints the URLs and a
// few commands to try.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const home = join(process.cwd(), '.dynamicfs');
const pool = join(home, 'pool');
// The daemon runs with V8's memory reducer off, as the `dynamicfs` command and the systemd unit run it:
// the reducer's collections in idle isolates were most of an idle daemon's CPU (docs/OPERATIONS.md).
const DAEMON_NODE_FLAGS = ['--no-memory-reducer', '--initial-old-space-size=32'];
// ...and, as they do, with 16 threads for fragment I/O unless UV_THREADPOOL_SIZE says otherwise.
const DAEMON_ENV = { ...process.env, UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '16' };
const bin = join(root, 'build', 'src', 'cli', 'main.js');
const run = (...args) => spawnSync(process.execPath, [bin, '--pool', pool, ...args], { stdio: 'inherit' }).status;

// A daemon already running on this pool: say so before anything else.
try {
  const running = JSON.parse(readFileSync(join(pool, 'run', 'daemon.json'), 'utf8'));
  process.kill(running.pid, 0);
  console.error(`a daemon already runs this pool: ${running.url} (pid ${running.pid}); stop it first (Ctrl-C in its terminal, or kill ${running.pid})`);
  process.exit(1);
} catch {
  // none (or a stale daemon.json, which the daemon's own start replaces)
}

if (!existsSync(join(pool, 'pool.json'))) {
  const disks = Array.from({ length: 6 }, (_, i) => join(home, 'disks', `d${i + 1}`));
  for (const d of disks) mkdirSync(d, { recursive: true });
  console.log(`creating the embedded pool in ${relative(process.cwd(), home) || '.'} (6 directory disks, ec:4+2)\n`);
  if (run('init', '--policy', 'ec:4+2', ...disks.flatMap((d) => ['--disk', d])) !== 0) process.exit(1);
  console.log('');
}
if (run('status') !== 0) process.exit(1);
const port = process.env.PORT ?? '9090';
const s3Port = process.env.S3_PORT ?? '9000';
const base = `http://127.0.0.1:${port}`;
const rel = relative(process.cwd(), pool) || pool;
console.log(`
Starting the daemon on ${base} (Ctrl-C stops it cleanly). Try, from another terminal:
  curl ${base}/health
  curl -s ${base}/metrics | grep ^dynamicfs_
  TOKEN=$(cat ${join(rel, 'token')})
  curl -H "Authorization: Bearer $TOKEN" -T package.json ${base}/v1/objects/hello.json
  curl -H "Authorization: Bearer $TOKEN" ${base}/v1/objects/hello.json
  curl -H "Authorization: Bearer $TOKEN" ${base}/v1/status
S3 on http://127.0.0.1:${s3Port} (region us-east-1; docs/S3.md), with a key of its own:
  node build/src/cli/main.js --pool ${rel} s3-key create
  AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... aws --endpoint-url http://127.0.0.1:${s3Port} s3 mb s3://photos
With the daemon stopped, the CLI works on the pool directly:
  node build/src/cli/main.js --pool ${rel} ls
`);
const daemon = spawn(process.execPath, [...DAEMON_NODE_FLAGS, bin, '--pool', pool, 'serve', '--port', port, '--s3-port', s3Port], { stdio: 'inherit', env: DAEMON_ENV });
// A terminal's Ctrl-C reaches the daemon directly as well as this process (and npm, which passes
// it on here again): forward one signal per burst, and a later one (a second Ctrl-C) again, which
// the daemon takes as "stop now".
let lastForward = 0;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    const now = Date.now();
    if (now - lastForward < 500) return;
    lastForward = now;
    if (daemon.exitCode === null) daemon.kill(signal);
  });
}
daemon.on('exit', (code) => process.exit(code ?? 1));
