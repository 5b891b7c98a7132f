// Round trips through the real CLI: every size around the extent boundary
// under every policy kind, from a file and from stdin, read back bit-exact.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makePool, type TestPool } from '../helpers/cli.js';

const EXTENT = 64 * 1024;
const SIZES = [0, 1, EXTENT - 1, EXTENT, EXTENT + 1, 3 * EXTENT + 12345];
const POLICIES = ['replication:1', 'replication:3', 'ec:2+1', 'ec:4+2'];

let pool: TestPool;

test.before(() => {
  pool = makePool({ disks: 6, extentSize: '64KiB' });
});
test.after(() => pool.cleanup());

for (const policy of POLICIES) {
  test(`${policy}: sizes 0, 1, extent-1, extent, extent+1 and several extents round-trip exactly`, () => {
    for (const [i, size] of SIZES.entries()) {
      const key = `${policy}/size-${size}`;
      const { path, bytes } = pool.file(`in-${policy.replace(/[:+]/g, '_')}-${size}`, size, 1000 * i + size);
      // Alternate file and stdin input: both paths stream through the same pipeline.
      const put = i % 2 === 0
        ? pool.run('put', path, '--key', key, '--policy', policy, '--json')
        : pool.runWith({ input: bytes }, 'put', '-', '--key', key, '--policy', policy, '--json');
      assert.is(put.code, 0, put.stderr);
      assert.equal(Object.keys(put.json).filter((k) => ['key', 'size', 'policy', 'extents', 'checksum'].includes(k)).sort(), ['checksum', 'extents', 'key', 'policy', 'size']);
      assert.is(put.json.size, size);
      assert.is(put.json.policy, policy);
      assert.is(put.json.extents, Math.ceil(size / EXTENT));
      assert.match(put.json.checksum, /^[0-9a-f]{16}$/);
      const got = pool.run('get', key);
      assert.is(got.code, 0, got.stderr);
      assert.is(got.raw.length, size, `${key}: length`);
      assert.ok(Buffer.compare(got.raw, Buffer.from(bytes)) === 0, `${key}: bytes differ`);
      const out = join(pool.root, `out-${i}`);
      const toFile = pool.run('get', key, '-o', out, '--json');
      assert.is(toFile.code, 0, toFile.stderr);
      assert.ok(Buffer.compare(readFileSync(out), Buffer.from(bytes)) === 0, `${key}: -o bytes differ`);
      const stat = pool.run('stat', key, '--json');
      assert.is(stat.json.checksum, put.json.checksum);
      assert.is(stat.json.extentStates.healthy, put.json.extents);
    }
  });
}

test('ec:3+2 (K not dividing the extent size): several extents round-trip exactly', () => {
  const { path, bytes } = pool.file('in-ec32', 4 * EXTENT + 3, 99);
  const put = pool.run('put', path, '--key', 'ec32', '--policy', 'ec:3+2', '--json');
  assert.is(put.code, 0, put.stderr);
  assert.is(put.json.extents, 5);
  assert.ok(Buffer.compare(pool.run('get', 'ec32').raw, Buffer.from(bytes)) === 0);
  assert.is(pool.run('rm', 'ec32').code, 0);
});

test('list-extents shows every fragment on distinct disks with absolute paths', () => {
  const r = pool.run('list-extents', '--json');
  assert.is(r.code, 0, r.stderr);
  const extents = r.json.extents as { key: string; policy: string; fragments: { diskId: string; path: string; state: string }[] }[];
  assert.ok(extents.length > 0);
  for (const e of extents) {
    const width = e.policy.startsWith('ec:') ? e.policy.slice(3).split('+').map(Number).reduce((a, b) => a + b) : Number(e.policy.split(':')[1]);
    assert.is(e.fragments.length, width, e.key);
    assert.is(new Set(e.fragments.map((f) => f.diskId)).size, width, `${e.key}: fragments share a disk`);
    for (const f of e.fragments) {
      assert.ok(f.path.startsWith('/'), f.path);
      assert.is(f.state, 'ok');
      assert.ok(readFileSync(f.path).length > 0);
    }
  }
});

test('ls --prefix and stat; rm deletes the object and its fragment files', () => {
  const ls = pool.run('ls', '--prefix', 'ec:2+1/', '--json');
  assert.is(ls.code, 0, ls.stderr);
  assert.is(ls.json.objects.length, SIZES.length);
  assert.ok(ls.json.objects.every((o: { key: string }) => o.key.startsWith('ec:2+1/')));
  const extents = pool.run('list-extents', '--key', 'ec:2+1/size-65537', '--json').json.extents as { fragments: { path: string }[] }[];
  const paths = extents.flatMap((e) => e.fragments.map((f) => f.path));
  assert.is(paths.length, 2 * 3);
  const rm = pool.run('rm', 'ec:2+1/size-65537', '--json');
  assert.is(rm.code, 0, rm.stderr);
  for (const p of paths) assert.throws(() => readFileSync(p), /ENOENT/);
  assert.is(pool.run('ls', '--prefix', 'ec:2+1/', '--json').json.objects.length, SIZES.length - 1);
  const status = pool.run('status', '--json').json;
  assert.is(status.objects, POLICIES.length * SIZES.length - 1);
});

test('overwrite swaps the content atomically and removes the old fragments', () => {
  const a = pool.file('ow-a', 3 * EXTENT, 7);
  const b = pool.file('ow-b', EXTENT + 5, 8);
  assert.is(pool.run('put', a.path, '--key', 'ow', '--policy', 'ec:4+2').code, 0);
  const before = (pool.run('list-extents', '--key', 'ow', '--json').json.extents as { fragments: { path: string }[] }[]).flatMap((e) => e.fragments.map((f) => f.path));
  const put = pool.run('put', b.path, '--key', 'ow', '--policy', 'replication:3', '--json');
  assert.is(put.code, 0, put.stderr);
  assert.is(put.json.replaced, true);
  assert.ok(Buffer.compare(pool.run('get', 'ow').raw, Buffer.from(b.bytes)) === 0);
  for (const p of before) assert.throws(() => readFileSync(p), /ENOENT/);
  assert.is(pool.run('stat', 'ow', '--json').json.policy, 'replication:3');
});

test.run();
