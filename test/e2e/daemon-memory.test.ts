// The daemon's memory under many requests (a short `npm run bench:memory`):
// thousands of small PUTs, some large ones and GETs from concurrent clients
// through a real daemon, its RSS sampled from /proc. Before the buffer arena
// the daemon grew by about half a megabyte per small PUT (1.6 GiB after
// 1,000); the bound here is far below that and above what it now uses.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makePool } from '../helpers/cli.js';
import { startDaemon } from '../helpers/daemon.js';
import { mixedSchedule, RssSampler, runLoad } from '../helpers/memory-load.js';

const MiB = 1024 * 1024;
const BOUND = 400 * MiB;

test('RSS stays bounded through 2,000 small PUTs, 20 large ones and 400 GETs; buffers all come back', async () => {
  const pool = makePool({ disks: 6, policy: 'ec:4+2' });
  const daemon = await startDaemon(pool.pool, ['serve', '--log-level', 'warn']);
  try {
    const sampler = new RssSampler(daemon.child.pid!, 100);
    const result = await runLoad({
      url: daemon.url, token: daemon.token, clients: 16, prefix: 'm/',
      ops: mixedSchedule({ smallPuts: 2000, smallSize: 4096, largePuts: 20, largeSize: 4 * MiB, gets: 400 }),
    });
    sampler.stop();
    assert.equal(result.errors.slice(0, 3), [], 'requests failed');
    const peak = sampler.peak;
    assert.ok(peak < BOUND, `peak RSS ${(peak / MiB).toFixed(0)} MiB, bound ${BOUND / MiB} MiB`);
    const metrics = await (await fetch(new URL('/metrics', daemon.url))).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    assert.is(value('dynamicfs_buffer_budget_bytes'), 32 * MiB, 'the default budget');
    assert.is(value('dynamicfs_buffer_in_use_bytes'), 0, 'buffers still leased after every request ended');
    assert.is(value('dynamicfs_buffer_free_bytes'), 32 * MiB);
    assert.ok(Number.isFinite(value('dynamicfs_buffer_waits_total')));
  } finally {
    assert.is(await daemon.stop(), 0);
    pool.cleanup();
  }
});

test.run();
