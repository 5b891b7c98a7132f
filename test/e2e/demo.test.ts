// npm run demo tells its story to the end: exact reads despite the damage,
// a scrub that repairs it, a healthy pool, a clean daemon exit.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../../scripts/demo.mjs', import.meta.url));

test('the demo runs in under a minute and ends with a healthy pool', () => {
  const started = Date.now();
  const r = spawnSync(process.execPath, [SCRIPT], { encoding: 'utf8', timeout: 120_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.is(r.stdout.match(/identical to what was stored/g)?.length, 3);
  assert.match(r.stdout, /checksum_mismatch\s+repaired/);
  assert.match(r.stdout, /truncated\s+repaired/);
  assert.match(r.stdout, /issues: 0 found/);
  assert.match(r.stdout, /healthy: all extents healthy, all disks healthy/);
  assert.match(r.stdout, /dynamicfs_health_status\{status="healthy"\} 1/);
  assert.match(r.stdout, /daemon exited with code 0/);
  assert.ok(Date.now() - started < 60_000, `took ${Date.now() - started} ms`);
});

test.run();
