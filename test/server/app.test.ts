// The HTTP application through fastify's inject, on a real pool.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../../src/store/index.js';
import { createLogger } from '../../src/log/index.js';
import { createMetricsRegistry } from '../../src/metrics/index.js';
import { buildApp, type DynamicfsApp } from '../../src/server/app.js';
import { runOp } from '../../src/ops/index.js';
import { makePool, type TestPool } from '../helpers/cli.js';
import { randomBytes } from '../helpers/gf-reference.js';

const SEED_METRICS = [
  'dynamicfs_disk_reads_total', 'dynamicfs_disk_writes_total', 'dynamicfs_disk_read_bytes', 'dynamicfs_disk_write_bytes',
  'dynamicfs_disk_errors_total', 'dynamicfs_disk_iops_total', 'dynamicfs_extents_healthy', 'dynamicfs_extents_degraded',
  'dynamicfs_extents_unrecoverable', 'dynamicfs_rebuilds_attempted', 'dynamicfs_rebuilds_successful', 'dynamicfs_rebuilds_failed',
  'dynamicfs_rebuild_bytes_written', 'dynamicfs_scrubs_completed', 'dynamicfs_scrub_issues_found', 'dynamicfs_scrub_repairs_attempted',
  'dynamicfs_scrub_repairs_successful', 'dynamicfs_cache_hits', 'dynamicfs_cache_misses', 'dynamicfs_cache_hit_rate',
];

let pool: TestPool;
let engine: Engine;
let app: DynamicfsApp;
let token: string;
const auth = () => ({ authorization: `Bearer ${token}` });

function metricValue(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `) || (!labels && l.startsWith(`${name}{`)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
}

function sum(text: string, name: string): number {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

test.before(async () => {
  // Seven disks: with one failed, ec:4+2 (six fragments) still has room, so the pool is degraded, not critical.
  pool = makePool({ disks: 7, extentSize: '64KiB' });
  engine = Engine.open(pool.pool, { role: 'test' });
  token = readFileSync(join(pool.pool, 'token'), 'utf8').trim();
  app = await buildApp({ engine, registry: createMetricsRegistry({ engine }), token, logger: createLogger('silent'), bodyLimit: 4096 });
});
test.after(async () => {
  await app.close();
  await engine.close();
  pool.cleanup();
});

test('/v1 needs the bearer token; /health and /metrics do not', async () => {
  for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: token }, { authorization: `Basic ${token}` }]) {
    const r = await app.inject({ method: 'GET', url: '/v1/status', headers });
    assert.is(r.statusCode, 401);
    assert.is(r.json().error.code, 'DFS_ERR_API_UNAUTHORIZED');
  }
  assert.is((await app.inject({ method: 'GET', url: '/v1/status', headers: auth() })).statusCode, 200);
  assert.is((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
  assert.is((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200);
});

test('objects: PUT, HEAD, GET, list, DELETE; metrics move with the work', async () => {
  const before = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const data = Buffer.from(randomBytes(200_000, 4));
  const put = await app.inject({ method: 'PUT', url: '/v1/objects/photos%2F1.jpg?policy=ec%3A4%2B2', headers: { ...auth(), 'content-type': 'image/jpeg' }, payload: data });
  assert.is(put.statusCode, 200, put.body);
  assert.equal(Object.keys(put.json()).filter((k) => ['key', 'size', 'policy', 'extents', 'checksum'].includes(k)).length, 5);
  assert.is(put.json().key, 'photos/1.jpg');
  assert.is(put.json().extents, 4);
  const head = await app.inject({ method: 'HEAD', url: '/v1/objects/photos%2F1.jpg', headers: auth() });
  assert.is(head.statusCode, 200);
  assert.is(Number(head.headers['content-length']), data.length);
  assert.is(head.headers['x-dynamicfs-checksum'], put.json().checksum);
  const get = await app.inject({ method: 'GET', url: '/v1/objects/photos%2F1.jpg', headers: auth() });
  assert.is(get.statusCode, 200);
  assert.ok(get.rawPayload.equals(data));
  const list = await app.inject({ method: 'GET', url: '/v1/objects?prefix=photos%2F&limit=10', headers: auth() });
  assert.equal(list.json().objects.map((o: { key: string }) => o.key), ['photos/1.jpg']);
  const after = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.ok(sum(after, 'dynamicfs_disk_writes_total') >= sum(before, 'dynamicfs_disk_writes_total') + 24, 'disk writes did not move');
  assert.ok(sum(after, 'dynamicfs_disk_write_bytes') > sum(before, 'dynamicfs_disk_write_bytes') + data.length);
  assert.ok(sum(after, 'dynamicfs_disk_reads_total') >= 16, 'disk reads did not move');
  assert.is(metricValue(after, 'dynamicfs_extents_healthy'), 4);
  assert.ok(metricValue(after, 'dynamicfs_cache_misses') >= 4);
  const again = await app.inject({ method: 'GET', url: '/v1/objects/photos%2F1.jpg', headers: auth() });
  assert.ok(again.rawPayload.equals(data));
  assert.ok(metricValue((await app.inject({ method: 'GET', url: '/metrics' })).body, 'dynamicfs_cache_hits') >= 4, 'a second read should hit the cache');
  const del = await app.inject({ method: 'DELETE', url: '/v1/objects/photos%2F1.jpg', headers: auth() });
  assert.is(del.json().deleted, true);
  const gone = await app.inject({ method: 'GET', url: '/v1/objects/photos%2F1.jpg', headers: auth() });
  assert.is(gone.statusCode, 404);
  assert.is(gone.json().error.code, 'DFS_ERR_OBJECT_NOT_FOUND');
});

test('rebuild through the API moves the rebuild metrics', async () => {
  await app.inject({ method: 'PUT', url: '/v1/objects/r', headers: auth(), payload: Buffer.from(randomBytes(150_000, 6)) });
  const disk = engine.catalog.disks()[1]!;
  engine.disks.setState(disk.id, 'failed');
  const r = await app.inject({ method: 'POST', url: '/v1/rebuild', headers: auth() });
  assert.is(r.statusCode, 200, r.body);
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.ok(metricValue(text, 'dynamicfs_rebuilds_attempted') >= r.json().extentsNeedingRepair);
  assert.ok(metricValue(text, 'dynamicfs_rebuilds_successful') >= r.json().extentsRepaired);
  assert.ok(metricValue(text, 'dynamicfs_rebuild_bytes_written') > 0, 'rebuild bytes did not move');
  assert.is(metricValue(text, 'dynamicfs_disk_state', `disk="${disk.id}",state="failed"`), 1);
  engine.disks.setState(disk.id, 'healthy');
  await app.inject({ method: 'DELETE', url: '/v1/objects/r', headers: auth() });
});

test('every seed metric name is exported', async () => {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  for (const name of SEED_METRICS) assert.ok(new RegExp(`^${name}(\\{| )`, 'm').test(text), `${name} missing`);
  for (const name of ['dynamicfs_disk_capacity_bytes', 'dynamicfs_disk_state', 'dynamicfs_worker_threads', 'dynamicfs_worker_queue_size', 'http_request_duration_seconds_bucket', 'process_resident_memory_bytes']) {
    assert.ok(text.includes(name), `${name} missing`);
  }
});

test('health: healthy 200, a failed disk 202, an unrecoverable extent 503', async () => {
  assert.is((await app.inject({ method: 'GET', url: '/health' })).json().status, 'healthy');
  await app.inject({ method: 'PUT', url: '/v1/objects/h', headers: auth(), payload: Buffer.from(randomBytes(70_000, 5)) });
  const disk = engine.catalog.disks()[0]!;
  engine.disks.setState(disk.id, 'failed');
  const degraded = await app.inject({ method: 'GET', url: '/health' });
  assert.is(degraded.statusCode, 202);
  assert.is(degraded.json().status, 'degraded');
  // Three of the six fragments of every extent of "h" damaged: beyond ec:4+2.
  engine.disks.setState(disk.id, 'healthy');
  const extents = engine.catalog.extentsOfObject(engine.catalog.object('h')!.id);
  for (const e of extents) engine.catalog.recordProblems(e.id, e.fragments.slice(0, 3).map((f) => ({ index: f.index, diskId: f.diskId, kind: 'checksum_mismatch' as const })), 'test');
  const critical = await app.inject({ method: 'GET', url: '/health' });
  assert.is(critical.statusCode, 503);
  assert.is(critical.json().status, 'critical');
  const read = await app.inject({ method: 'GET', url: '/v1/objects/h', headers: auth() });
  assert.is(read.statusCode, 500);
  assert.is(read.json().error.code, 'DFS_ERR_EXTENT_UNRECOVERABLE');
  await app.inject({ method: 'DELETE', url: '/v1/objects/h', headers: auth() });
  assert.is((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
});

test('bad input is a coded 4xx and the server stays up; keys are never paths', async () => {
  type Request = { method: 'GET' | 'PUT' | 'POST'; url: string; headers: Record<string, string>; payload?: string };
  const json = { ...auth(), 'content-type': 'application/json' };
  const cases: [string, Request, number, string][] = [
    ['bad JSON', { method: 'PUT', url: '/v1/workers', headers: { ...auth(), 'content-type': 'application/json' }, payload: '{"maxThreads":' }, 400, 'DFS_ERR_API_BAD_REQUEST'],
    ['wrong type', { method: 'PUT', url: '/v1/workers', headers: { ...auth(), 'content-type': 'application/json' }, payload: '{"maxThreads":"lots"}' }, 400, 'DFS_ERR_API_VALIDATION'],
    ['unknown field', { method: 'PUT', url: '/v1/workers', headers: { ...auth(), 'content-type': 'application/json' }, payload: '{"turbo":true}' }, 400, 'DFS_ERR_API_VALIDATION'],
    ['out of range', { method: 'PUT', url: '/v1/workers', headers: { ...auth(), 'content-type': 'application/json' }, payload: '{"maxThreads":0}' }, 400, 'DFS_ERR_CONFIG_INVALID'],
    ['oversize JSON', { method: 'PUT', url: '/v1/workers', headers: { ...auth(), 'content-type': 'application/json' }, payload: `{"maxThreads":${' '.repeat(10_000)}2}` }, 413, 'DFS_ERR_API_BODY_TOO_LARGE'],
    ['bad policy', { method: 'PUT', url: '/v1/objects/x?policy=raid5', headers: auth(), payload: 'x' }, 400, 'DFS_ERR_POLICY_INVALID'],
    ['impossible policy', { method: 'PUT', url: '/v1/objects/x?policy=ec%3A8%2B4', headers: auth(), payload: 'x' }, 409, 'DFS_ERR_POLICY_UNSATISFIABLE'],
    ['bad limit', { method: 'GET', url: '/v1/objects?limit=-1', headers: auth() }, 400, 'DFS_ERR_API_VALIDATION'],
    ['NUL in key', { method: 'PUT', url: '/v1/objects/a%00b', headers: auth(), payload: 'x' }, 400, 'DFS_ERR_OBJECT_KEY_INVALID'],
    ['unknown route', { method: 'GET', url: '/v1/nothing', headers: auth() }, 404, 'DFS_ERR_API_NOT_FOUND'],
    // Each operation's parameters are checked against its own schema, directly and as a job.
    ['op: wrong type', { method: 'POST', url: '/v1/ops/gc', headers: json, payload: '{"grace":"soon"}' }, 400, 'DFS_ERR_API_VALIDATION'],
    ['op: out of range', { method: 'POST', url: '/v1/ops/gc', headers: json, payload: '{"grace":-1}' }, 400, 'DFS_ERR_API_VALIDATION'],
    ['op: unknown field', { method: 'POST', url: '/v1/ops/status', headers: json, payload: '{"verbose":true}' }, 400, 'DFS_ERR_API_VALIDATION'],
    ['op: missing field', { method: 'POST', url: '/v1/ops/stat', headers: json, payload: '{}' }, 400, 'DFS_ERR_API_VALIDATION'],
    ['op: unknown', { method: 'POST', url: '/v1/ops/format-disk', headers: json, payload: '{}' }, 404, 'DFS_ERR_API_NOT_FOUND'],
    ['job: unknown op', { method: 'POST', url: '/v1/jobs', headers: json, payload: '{"op":"format-disk"}' }, 400, 'DFS_ERR_API_VALIDATION'],
    ['job: wrong params', { method: 'POST', url: '/v1/jobs', headers: json, payload: '{"op":"gc","params":{"grace":"soon"}}' }, 400, 'DFS_ERR_API_VALIDATION'],
    ['job: params of another op', { method: 'POST', url: '/v1/jobs', headers: json, payload: '{"op":"rebuild","params":{"key":"x"}}' }, 400, 'DFS_ERR_API_VALIDATION'],
  ];
  for (const [name, request, status, code] of cases) {
    const r = await app.inject(request);
    assert.is(r.statusCode, status, `${name}: ${r.body}`);
    assert.is(r.json().error.code, code, name);
    assert.not.match(r.body, /\bat .*\.js:\d+/, `${name}: a stack trace leaked`);
  }
  const outside = readdirSync(pool.root).sort();
  for (const key of ['..%2F..%2Fetc%2Fpasswd', '%2e%2e%2F%2e%2e%2Fx', 'a%5Cb%5C..%5C..%5Cc']) {
    const put = await app.inject({ method: 'PUT', url: `/v1/objects/${key}`, headers: auth(), payload: 'data' });
    assert.is(put.statusCode, 200, put.body);
    const back = await app.inject({ method: 'GET', url: `/v1/objects/${key}`, headers: auth() });
    assert.is(back.body, 'data');
  }
  // A bare dot-dot segment is resolved by URL parsing before routing: a coded 404, nothing stored.
  const dots = await app.inject({ method: 'PUT', url: '/v1/objects/%2E%2E', headers: auth(), payload: 'data' });
  assert.ok(dots.statusCode >= 400 && dots.statusCode < 500);
  assert.match(dots.json().error.code, /^DFS_ERR_/);
  assert.equal(readdirSync(pool.root).sort(), outside, 'something was written outside the pool and disks');
  assert.is((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
});

test('an operation run locally checks its parameters with the same schema; good ones pass both ways', async () => {
  for (const [name, params, message] of [
    ['gc', { grace: -1 }, /gc: grace must be >= 0/],
    ['gc', { grace: 'soon' }, /gc: grace must be number/],
    ['stat', {}, /stat: key is required/],
    ['status', { verbose: true }, /unknown parameter "verbose"/],
    ['scrub', { repair: 'yes' }, /scrub: repair must be boolean/],
  ] as const) {
    const error = await runOp(engine, name, params as Record<string, unknown>).then(() => null, (e: { code?: string; message: string }) => e);
    assert.is(error?.code, 'DFS_ERR_PARAM_INVALID', name);
    assert.match(error!.message, message);
  }
  const direct = await app.inject({ method: 'POST', url: '/v1/ops/gc', headers: { ...auth(), 'content-type': 'application/json' }, payload: { dryRun: true, grace: 0 } });
  assert.is(direct.statusCode, 200, direct.body);
  assert.is(direct.json().dryRun, true);
  const job = await app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...auth(), 'content-type': 'application/json' }, payload: { op: 'list-extents', params: { key: 'nothing-here' } } });
  assert.is(job.statusCode, 202, job.body);
});

test('/v1/workers reads and applies worker pool options live; /docs/json is OpenAPI', async () => {
  const set = await app.inject({ method: 'PUT', url: '/v1/workers', headers: auth(), payload: { maxThreads: 3, maxQueue: 64 } });
  assert.is(set.statusCode, 200, set.body);
  const got = (await app.inject({ method: 'GET', url: '/v1/workers', headers: auth() })).json();
  assert.is(got.maxThreads, 3);
  assert.is(got.maxQueue, 64);
  const docs = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
  assert.match(docs.openapi, /^3\./);
  assert.ok(docs.paths['/v1/workers'] && docs.paths['/health']);
});

test.run();
