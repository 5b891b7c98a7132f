// npm run bench:memory — the daemon's resident memory under many requests.
// A real daemon on a fresh 6-disk ec:4+2 pool takes a mixed load from
// closed-loop clients over keep-alive HTTP: 20,000 PUTs of 4 KiB, 200 PUTs of
// 4 MiB and 5,000 GETs of objects stored earlier, spread evenly through the
// run. A sampler reads the daemon's VmRSS every 100 ms. The bench prints the
// RSS curve, the peak, the median RSS of the first and last quarter of the
// run, and the daemon's CPU (utime+stime, all threads) per request.
// Targets: peak ≤ 256 MiB; after the warm-up (the first 2,000 PUTs, in which
// the V8 heap and the threads' malloc arenas reach their working size) the
// last quarter ≤ 1.1× the first.
//
//   DFS_BENCH_SMALL    small PUTs (default 20000)
//   DFS_BENCH_LARGE    4 MiB PUTs (default 200)
//   DFS_BENCH_GETS     GETs (default 5000)
//   DFS_BENCH_CLIENTS  closed loops (default 32)
//   DFS_BENCH_LARGE_GETS  then GETs of the 4 MiB objects alone, 16 clients (default 1000)
//   DFS_BENCH_ENV      extra daemon environment, as NAME=VALUE[,NAME=VALUE]
import http from 'node:http';
import { makePool } from '../helpers/cli.js';
import { startDaemon } from '../helpers/daemon.js';
import { cpuSeconds, mixedSchedule, quarters, rssBytes, RssSampler, runLoad } from '../helpers/memory-load.js';
import { printRows } from './harness.js';

const SMALL = Number(process.env.DFS_BENCH_SMALL ?? 20_000);
const LARGE = Number(process.env.DFS_BENCH_LARGE ?? 200);
const GETS = Number(process.env.DFS_BENCH_GETS ?? 5_000);
const CLIENTS = Number(process.env.DFS_BENCH_CLIENTS ?? 32);
const LARGE_GETS = Number(process.env.DFS_BENCH_LARGE_GETS ?? 1000);
const MiB = 1024 * 1024;
const env = Object.fromEntries((process.env.DFS_BENCH_ENV ?? '').split(',').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));

const pool = makePool({ disks: 6, policy: 'ec:4+2' });
const daemon = await startDaemon(pool.pool, ['serve', '--log-level', 'warn'], env);
const pid = daemon.child.pid!;
try {
  const startRss = rssBytes(pid);
  const sampler = new RssSampler(pid, 100);
  // First the small PUTs alone, for the CPU of one: the first SMALL_ALONE of them.
  const alone = Math.min(SMALL, 2000);
  const cpuAlone = cpuSeconds(pid);
  const aloneResult = await runLoad({ url: daemon.url, token: daemon.token, ops: mixedSchedule({ smallPuts: alone, smallSize: 4096, largePuts: 0, largeSize: 0, gets: 0 }), clients: 16, prefix: 'alone/' });
  const cpuPerSmallPut = (cpuSeconds(pid) - cpuAlone) / alone;
  const ops = mixedSchedule({ smallPuts: SMALL - alone, smallSize: 4096, largePuts: LARGE, largeSize: 4 * MiB, gets: GETS });
  const cpuStart = cpuSeconds(pid);
  sampler.phase = 'mix';
  const progress: { done: number; ms: number }[] = [];
  const t0 = sampler.start;
  const result = await runLoad({
    url: daemon.url, token: daemon.token, ops, clients: CLIENTS, prefix: 'mem/',
    onProgress: (done) => {
      if (done % Math.ceil(ops.length / 20) === 0) progress.push({ done, ms: Date.now() - t0 });
    },
  });
  const cpu = cpuSeconds(pid) - cpuStart;
  // Then large GETs alone: the read path's memory (read slots, the cache, copies to the socket).
  sampler.phase = 'large gets';
  const largeKeys = ops.flatMap((op, i) => (op.kind === 'put' && op.size > 4096 ? [`mem/${i}`] : []));
  const largeGets = largeKeys.length && LARGE_GETS ? await runLargeGets(daemon.url, daemon.token, largeKeys, LARGE_GETS) : { errors: [] as string[], seconds: 0 };
  const samples = sampler.stop();
  const { first, last } = quarters(samples);
  const mix = quarters(samples.filter((x) => x.phase === 'mix'));
  const peak = sampler.peak;

  console.log(`\ndaemon RSS under ${alone} PUTs of 4 KiB alone, then ${SMALL - alone} of 4 KiB, ${LARGE} PUTs of 4 MiB and ${GETS} GETs (mixed), ${CLIENTS} clients, ec:4+2, 6 disks${Object.keys(env).length ? `, env ${JSON.stringify(env)}` : ''}`);
  const rows = [['requests done', 'seconds', 'RSS MiB'], [`${alone} (small PUTs alone)`, ((samples.find((x) => x.phase === 'mix')?.ms ?? 0) / 1000).toFixed(1), ((samples.find((x) => x.phase === 'mix')?.rss ?? 0) / MiB).toFixed(0)]];
  for (const p of progress) {
    const at = samples.filter((s) => s.ms <= p.ms + 50).pop() ?? samples[0]!;
    rows.push([String(p.done), (p.ms / 1000).toFixed(1), (at.rss / MiB).toFixed(0)]);
  }
  const lastMix = samples.filter((x) => x.phase === 'mix').pop();
  const lastLarge = samples.filter((x) => x.phase === 'large gets').pop();
  if (lastMix && lastLarge) rows.push([`+${LARGE_GETS} GETs of 4 MiB`, ((lastLarge.ms) / 1000).toFixed(1), `${(lastMix.rss / MiB).toFixed(0)} → ${(lastLarge.rss / MiB).toFixed(0)}`]);
  printRows(rows);
  console.log('');
  printRows([
    ['figure', 'value', 'target'],
    ['RSS before the load', `${(startRss / MiB).toFixed(0)} MiB`, ''],
    ['peak RSS', `${(peak / MiB).toFixed(0)} MiB`, '≤ 256 MiB'],
    ['median RSS, first quarter', `${(first / MiB).toFixed(0)} MiB`, ''],
    ['median RSS, last quarter', `${(last / MiB).toFixed(0)} MiB`, ''],
    ['last ÷ first quarter, whole run (with the warm-up)', `${(last / first).toFixed(2)}×`, ''],
    ['last ÷ first quarter after the warm-up (the mixed phase)', `${(mix.last / mix.first).toFixed(2)}× (${(mix.first / MiB).toFixed(0)} → ${(mix.last / MiB).toFixed(0)} MiB)`, '≤ 1.10×'],
    ['requests/s', (result.requests / result.seconds).toFixed(0), ''],
    ['daemon CPU per small PUT (alone, 16 clients)', `${(cpuPerSmallPut * 1000).toFixed(2)} ms`, ''],
    ['small PUTs/s (alone, 16 clients)', (alone / aloneResult.seconds).toFixed(0), ''],
    ['daemon CPU per request of the mix', `${((cpu / result.requests) * 1000).toFixed(2)} ms`, ''],
    ['failed requests', String(result.errors.length + aloneResult.errors.length + largeGets.errors.length), '0'],
  ]);
  // Where the memory is, as the daemon reports it.
  const text = await (await fetch(new URL('/metrics', daemon.url))).text();
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  console.log('');
  printRows([
    ['at the end (the daemon\'s /metrics)', 'MiB'],
    ...['nodejs_heap_size_total_bytes', 'nodejs_external_memory_bytes', 'dynamicfs_cache_bytes', 'dynamicfs_buffer_budget_bytes', 'dynamicfs_buffer_in_use_bytes', 'process_resident_memory_bytes']
      .map((name) => [name, (value(name) / MiB).toFixed(1)]),
    ['dynamicfs_buffer_waits_total', String(value('dynamicfs_buffer_waits_total'))],
  ]);
  const errors = [...aloneResult.errors, ...result.errors, ...largeGets.errors];
  if (errors.length) console.log(errors.slice(0, 5).join('\n'));
} finally {
  await daemon.stop();
  pool.cleanup();
}

/** `count` GETs spread over `keys` from 16 closed loops, each checking the length. */
async function runLargeGets(url: string, token: string, keys: string[], count: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const errors: string[] = [];
  let next = 0;
  const start = process.hrtime.bigint();
  const loop = async () => {
    for (let i = next++; i < count; i = next++) {
      const key = keys[i % keys.length]!;
      const got = await new Promise<number>((resolve, reject) => {
        http.get(new URL(`/v1/objects/${encodeURIComponent(key)}`, url), { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
          let n = 0;
          res.on('data', (d: Buffer) => (n += d.length));
          res.on('end', () => resolve(res.statusCode === 200 ? n : -res.statusCode!));
        }).on('error', reject);
      }).catch((e: Error) => (errors.push(e.message), 0));
      if (got !== 4 * MiB) errors.push(`GET ${key}: ${got}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, loop));
  agent.destroy();
  return { errors, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}
