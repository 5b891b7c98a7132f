// Listing at scale: `ls` streams a page at a time (the table as it goes,
// --json as one document), with --limit and --after, locally and through the
// daemon, whose /v1 listing pages with continuation tokens. The catalogue's
// rows are created directly, which makes a large listing cheap to set up.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { makePool, type TestPool } from '../helpers/cli.js';
import { startDaemon } from '../helpers/daemon.js';

const ROWS = 25_000;
const keyOf = (i: number) => `dir${i % 10}/object-${String(i).padStart(6, '0')}`;
let pool: TestPool;
let keys: string[];

test.before(() => {
  pool = makePool({ disks: 6 });
  const db = new Database(join(pool.pool, 'catalog.db'));
  const insert = db.prepare("INSERT INTO objects (id, key, size, policy, checksum, extents, created_at) VALUES (?, ?, 4096, 'ec:4+2', '0000000000000000', 1, 0)");
  db.transaction(() => {
    for (let i = 0; i < ROWS; i++) insert.run(i.toString(16).padStart(32, '0'), keyOf(i));
  })();
  db.close();
  keys = Array.from({ length: ROWS }, (_, i) => keyOf(i)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
});
test.after(() => pool.cleanup());

function listed(...args: string[]): string[] {
  const r = pool.run('ls', '--json', ...args);
  assert.is(r.code, 0, r.stderr);
  return (r.json.objects as { key: string }[]).map((o) => o.key);
}

test('ls --json lists every object in key order as one document; the table has a row each', () => {
  assert.equal(listed(), keys);
  const table = pool.run('ls');
  assert.is(table.code, 0);
  const lines = table.stdout.trimEnd().split('\n');
  assert.is(lines.length, ROWS + 1);
  assert.match(lines[0]!, /^SIZE\s+POLICY\s+EXTENTS\s+CREATED\s+KEY$/);
  assert.ok(lines[1]!.endsWith(keys[0]!));
});

test('--limit, --after and --prefix page through the same order', () => {
  assert.equal(listed('--limit', '5'), keys.slice(0, 5));
  assert.equal(listed('--after', keys[1234]!, '--limit', '1500'), keys.slice(1235, 2735));
  assert.equal(listed('--prefix', 'dir3/'), keys.filter((k) => k.startsWith('dir3/')));
  assert.is(pool.run('ls', '--limit', '0').code, 1);
});

test('through the daemon: the same listing, page by page with continuation tokens', async () => {
  const daemon = await startDaemon(pool.pool);
  try {
    assert.equal(listed(), keys);
    assert.equal(listed('--after', keys[100]!, '--limit', '2500'), keys.slice(101, 2601));
    const auth = { authorization: `Bearer ${daemon.token}` };
    const first = (await (await fetch(`${daemon.url}/v1/objects?limit=3`, { headers: auth })).json()) as { objects: { key: string }[]; nextToken: string };
    assert.equal(first.objects.map((o) => o.key), keys.slice(0, 3));
    const second = (await (await fetch(`${daemon.url}/v1/objects?limit=3&token=${first.nextToken}`, { headers: auth })).json()) as { objects: { key: string }[]; nextToken: string | null };
    assert.equal(second.objects.map((o) => o.key), keys.slice(3, 6));
    const bad = await fetch(`${daemon.url}/v1/objects?token=%2F%2F`, { headers: auth });
    assert.is(bad.status, 400);
  } finally {
    await daemon.stop();
  }
});

test.run();
