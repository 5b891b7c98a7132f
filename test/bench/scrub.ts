// npm run bench:scrub — scrub throughput at `high` against reading the same
// fragment files with no engine (one thread, a reused buffer, no checks),
// in the same run, interleaved rounds, medians. Target ≥ 0.8x.
// (The foreground-impact table of issue 5 is not measured here yet.)
import { mkdirSync, openSync, readSync, closeSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, chunkSource, putObject } from '../../src/store/index.js';
import { ScrubService } from '../../src/scrub/index.js';
import { fragmentFiles, tempDir } from '../helpers/cli.js';
import { median } from './harness.js';

const BYTES = Number(process.env.DFS_BENCH_SCRUB_BYTES ?? 512 * 1024 * 1024);
const ROUNDS = Number(process.env.DFS_BENCH_ROUNDS ?? 3);

const root = tempDir('dfs-bench-scrub-');
const disks = Array.from({ length: 6 }, (_, i) => join(root, `d${i}`));
for (const d of disks) mkdirSync(d);
const engine = Engine.init(join(root, 'pool'), { disks, policy: 'ec:4+2' });
const chunk = new Uint8Array(1024 * 1024);
for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 2654435761) >>> 24;
async function* chunks() {
  for (let done = 0; done < BYTES; done += chunk.length) yield chunk;
}
await putObject(engine, chunkSource(chunks(), BYTES), 'bench');
const files = fragmentFiles(disks);
const service = new ScrubService(engine, { tickMs: 0 });

function readAll(list: string[]): number {
  const buf = Buffer.allocUnsafe(1024 * 1024);
  let n = 0;
  for (const p of list) {
    const fd = openSync(p, 'r');
    for (let got; (got = readSync(fd, buf, 0, buf.length, null)) > 0;) n += got;
    closeSync(fd);
  }
  return n;
}

function baseline(): number {
  // The bare minimum: one thread reading every file into one reused buffer, no checks.
  const t = performance.now();
  const bytes = readAll(files);
  return bytes / ((performance.now() - t) / 1000);
}

async function scrub(): Promise<number> {
  const t = performance.now();
  const s = await service.runOnce({ intensity: 'high', dryRun: true });
  if (s.issuesFound !== 0) throw new Error('issues in a clean pool');
  return s.bytesScanned / ((performance.now() - t) / 1000);
}

readAll(files.slice(0, 4)); // warm up
const a: number[] = [];
const b: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  a.push(await scrub());
  b.push(baseline());
}
const mb = (x: number) => (x / 1e6).toFixed(0);
console.log(`scrub throughput, ec:4+2, ${BYTES / 1048576} MiB of objects, ${files.length} fragment files, ${ROUNDS} rounds (page cache warm for both)`);
console.log(`| case | MB/s |\n|---|---|\n| scrub --intensity high | ${mb(median(a))} |\n| read the same files (readSync, reused buffer, no checks) | ${mb(median(b))} |`);
console.log(`ratio ${(median(a) / median(b)).toFixed(2)}x (target >= 0.8x)`);
await service.close();
await engine.close();
rmSync(root, { recursive: true, force: true });
