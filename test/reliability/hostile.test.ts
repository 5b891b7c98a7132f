// Hostile input, for a fixed budget of generated cases (seeded, so a failure
// replays): the HTTP API of a real daemon and the CLI get malformed and
// oversize JSON, wrong types, huge headers, invalid UTF-8, NUL bytes,
// traversal-looking keys, absurd ranges and policies. Every refusal is a 4xx
// (or exit 1) carrying a DFS_ERR_* code, nothing answers 5xx or prints a
// stack trace, the daemon stays up, and nothing outside the pool and its
// disks is created or changed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { cli, makePool, type TestPool } from '../helpers/cli.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { prng } from './crash-world.js';

const HTTP_CASES = Number(process.env.DFS_FUZZ_HTTP_CASES ?? 400);
const CLI_CASES = Number(process.env.DFS_FUZZ_CLI_CASES ?? 40);

let pool: TestPool;
let daemon: RunningDaemon;
let outsideBefore = '';

/** Every path with size and mtime under the test root, except inside the pool and the disks. */
function outsideSnapshot(): string {
  const lines: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (path === pool.pool || pool.disks.includes(path)) continue;
      const st = statSync(path);
      lines.push(`${path} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(path);
    }
  };
  walk(pool.root);
  return lines.sort().join('\n');
}

test.before(async () => {
  pool = makePool({ disks: 6, extentSize: '64KiB' });
  // Bait for traversal: files beside the pool that a ../ key could reach.
  mkdirSync(join(pool.root, 'etc'));
  writeFileSync(join(pool.root, 'etc', 'passwd'), 'root:x:0:0\n');
  writeFileSync(join(pool.root, 'outside.txt'), 'untouched\n');
  const f = pool.file('seed.bin', 100_000, 9);
  assert.is(pool.run('put', f.path, '--key', 'seed').code, 0);
  outsideBefore = outsideSnapshot();
  daemon = await startDaemon(pool.pool, ['serve', '--log-level', 'error']);
});
test.after(async () => {
  await daemon?.stop('SIGKILL');
  pool.cleanup();
});

const TRAVERSAL = ['../../etc/passwd', '..%2F..%2Fetc%2Fpasswd', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/etc/passwd', '..\\..\\outside.txt', './../outside.txt', 'a/../../../../outside.txt'];
const POLICIES = ['ec:0+0', 'ec:99+99', 'ec:4+', 'ec:-1+2', 'replication:0', 'replication:-3', 'replication:1e9', 'raid5', '', 'ec:4+2;rm -rf /', '%00', 'ec:33+1', 'ec:1+17'];
const JUNK_JSON = ['{', '{"intensity":', '[]', 'null', '1e999', '"a"', '{"intensity":{"$gt":""}}', '{"__proto__":{"polluted":1}}', '{"maxThreads":-1}', '{"maxThreads":"8"}', '{"maxThreads":1e308}', '{"frequency":["nightly"]}', '{"window":"25:00-99:99"}', '{"intensity":"high\\u0000"}', '{"grace":-5}', '{"disk":"../../etc"}', '{"key":"\\u0000"}'];

interface Req { method: string; path: string; headers: Record<string, string>; body?: Buffer | string; oversize?: boolean }

function generate(random: () => number): Req {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const auth = { authorization: `Bearer ${daemon.token}` };
  const junk = () => Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256)));
  switch (Math.floor(random() * 12)) {
    case 0: return { method: pick(['GET', 'HEAD', 'DELETE']), path: `/v1/objects/${pick(TRAVERSAL)}`, headers: auth };
    case 1: return { method: 'PUT', path: `/v1/objects/${encodeURIComponent(pick(TRAVERSAL))}x?policy=${encodeURIComponent(pick(POLICIES))}`, headers: auth, body: junk() };
    case 2: return { method: 'PUT', path: `/v1/objects/${'k'.repeat(1 + Math.floor(random() * 5000))}`, headers: auth, body: 'x' };
    case 3: return { method: 'GET', path: `/v1/objects?limit=${pick(['-1', '0', '1e309', 'abc', '99999999999', '1.5', ''])}&prefix=${pick(['%00', '%FF%FE', '..%2F', ''])}&after=${pick(['%C3%28', 'z', ''])}`, headers: auth };
    case 4: return { method: pick(['PUT', 'POST']), path: pick(['/v1/scrub/intensity', '/v1/scrub/schedule', '/v1/workers', '/v1/scrub/run', '/v1/jobs', `/v1/jobs/${pick(['x', '..', '%00', 'a'.repeat(100)])}`]), headers: { ...auth, 'content-type': 'application/json' }, body: pick(JUNK_JSON) };
    case 5: return { method: 'POST', path: `/v1/ops/${pick(['gc', 'change-policy', 'rm', 'add-disk', 'set-disk-health', 'nope', '__proto__', 'constructor'])}`, headers: { ...auth, 'content-type': 'application/json' }, body: pick(JUNK_JSON) };
    case 6: return { method: 'POST', path: '/v1/scrub/run', headers: { ...auth, 'content-type': 'application/json' }, body: `{"intensity":"${'h'.repeat(2 * 1024 * 1024)}"}`, oversize: true }; // oversize JSON
    case 7: return { method: 'GET', path: '/v1/status', headers: { ...auth, 'x-junk': 'a'.repeat(20_000 + Math.floor(random() * 60_000)) } }; // huge header
    case 8: return { method: 'PUT', path: '/v1/workers', headers: { ...auth, 'content-type': 'application/json' }, body: Buffer.concat([Buffer.from('{"maxThreads":'), junk(), Buffer.from('}')]) }; // invalid UTF-8
    case 9: return { method: pick(['GET', 'PUT', 'POST', 'DELETE']), path: pick(['/v1/status', '/v1/scrub/start', '/v1/objects/seed', '/v1/workers']), headers: pick<Record<string, string>>([{}, { authorization: 'Bearer wrong' }, { authorization: `Basic ${daemon.token}` }, { authorization: `Bearer ${daemon.token}x` }]) };
    case 10: return { method: pick(['PATCH', 'OPTIONS', 'TRACE', 'PROPFIND']), path: pick(['/v1/objects/seed', '/v1/status', '/metrics']), headers: auth };
    default: return { method: 'PUT', path: `/v1/objects/nul${encodeURIComponent('\u0000')}key`, headers: auth, body: 'x' };
  }
}

/** A raw request (node:http: no client-side validation or normalisation of the path). */
function send(url: string, req: Req): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const u = new URL(url);
    // A fresh connection per request: the server closes some on purpose (431, 413).
    const r = httpRequest({ host: u.hostname, port: u.port, method: req.method, path: req.path, headers: req.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    r.on('error', (e) => resolve({ status: -1, body: e.message }));
    if (req.body !== undefined) r.end(req.body);
    else r.end();
  });
}

test(`HTTP: ${HTTP_CASES} hostile requests get 4xx with a coded error (or a valid answer), never 5xx; the daemon stays up`, async () => {
  const random = prng(424242);
  const statuses = new Map<number, number>();
  for (let i = 0; i < HTTP_CASES; i++) {
    const req = generate(random);
    const res = await send(daemon.url, req);
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    const what = `${req.method} ${req.path.slice(0, 120)} → ${res.status} ${res.body.slice(0, 200)}`;
    if (res.status === -1 && req.oversize) {
      // The daemon may answer 413 and close while the client is still sending the body: the client sees a reset.
      assert.is((await fetch(`${daemon.url}/health`)).status, 200, `after ${what}`);
      continue;
    }
    assert.ok(res.status > 0, `no answer: ${what}`);
    assert.ok(res.status < 500, `server error: ${what}`);
    if (res.status >= 400 && res.status !== 431 && req.method !== 'HEAD') {
      // 431 comes from Node's HTTP parser before any route runs: a status line and nothing else.
      assert.match(res.body, /"code":"DFS_ERR_[A-Z_]+"/, `uncoded refusal: ${what}`);
    }
    assert.not.match(res.body, /\n\s+at .+:\d+:\d+/, `stack trace: ${what}`);
  }
  assert.ok((statuses.get(431) ?? 0) > 0 && [...statuses.keys()].some((s) => s === 400), `the cases reached the parser and the validator: ${JSON.stringify([...statuses])}`);
  const health = await fetch(`${daemon.url}/health`);
  assert.is(health.status, 200);
  const seed = await fetch(`${daemon.url}/v1/objects/seed`, { headers: { authorization: `Bearer ${daemon.token}` } });
  assert.is(Buffer.from(await seed.arrayBuffer()).length, 100_000);
  assert.is(daemon.child.exitCode, null, 'the daemon is still running');
  assert.is(outsideSnapshot(), outsideBefore, 'nothing outside the pool and its disks changed');
});

test(`CLI: ${CLI_CASES} hostile command lines exit 1 with one coded line and no stack trace`, async () => {
  await daemon.stop();
  const random = prng(777);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const p = ['--pool', pool.pool];
  const cases: (() => string[])[] = [
    () => [...p, 'put', join(pool.root, 'missing-file'), '--key', 'x'],
    () => [...p, 'put', join(pool.root, 'outside.txt'), '--key', 'x', '--policy', pick(POLICIES)],
    () => [...p, 'get', pick(['nope', '', 'a'.repeat(5000), '\uD800'])],
    () => [...p, 'get', pick(TRAVERSAL)],
    () => [...p, 'ls', '--limit', pick(['-1', 'abc', '1e309', '0.5'])],
    () => [...p, 'scrub', '--intensity', pick(['fast', '', 'HIGHER', 'hígh'])],
    () => [...p, 'scrub-schedule', '--frequency', pick(['hourly', 'nightly']), '--window', pick(['25:00-26:00', 'x', '01:00', '-'])],
    () => [...p, 'scrub-daemon', pick(['explode', 'pause', 'resume', 'stop'])],
    () => [...p, 'gc', '--grace', pick(['-1', 'soon', 'NaN'])],
    () => [...p, 'add-disk', '--disk', pick([join(pool.root, 'missing'), join(pool.root, 'outside.txt'), pool.pool])],
    () => [...p, 'set-disk-health', '--disk', pool.disks[0]!, '--state', pick(['broken', '', 'HEALTHY!'])],
    () => [...p, 'change-policy', 'seed', '--policy', pick(POLICIES)],
    () => ['--pool', join(pool.root, 'etc'), pick(['status', 'ls', 'scrub'])],
    () => [...p, pick(['frobnicate', '--version-x', 'put']), '--nonsense'],
    () => [...p, 'init', '--disk', pool.disks[0]!],
    () => [...p, 'serve', '--port', pick(['-1', '70000', 'http'])],
  ];
  for (let i = 0; i < CLI_CASES; i++) {
    const args = pick(cases)();
    const r = cli(args);
    const what = `dynamicfs ${args.slice(2).join(' ').slice(0, 150)} → exit ${r.code}: ${r.stderr.slice(0, 300)}`;
    assert.is(r.code, 1, what);
    assert.match(r.stderr, /^error: .*\(DFS_ERR_[A-Z_]+\)\n$/, what);
  }
  // Found by this suite: the pool folder itself (or a folder inside a disk) was accepted as a disk.
  for (const folder of [pool.pool, join(pool.disks[1]!, 'fragments'), join(pool.pool, 'run')]) {
    assert.match(cli([...p, 'add-disk', '--disk', folder]).stderr, /\(DFS_ERR_DISK_OVERLAP\)\n$/, folder);
  }
  assert.is(outsideSnapshot(), outsideBefore, 'nothing outside the pool and its disks changed');
  assert.is(pool.run('scrub').code, 0, 'the pool is intact');
});

test.run();
