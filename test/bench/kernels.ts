// npm run bench:kernels — GB/s of each kernel against a peer measured in the
// same run. Targets: RS encode and reconstruct 4+2 >= 1.0x
// @ronomon/reed-solomon, inside the engine and through the public API's
// zero-copy path; XXH3 >= 1.3x xxhash-wasm h64; worker overhead <= 10% of the
// verify time of a 1 MiB extent.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import xxhashWasm from 'xxhash-wasm';
import { createXXHash3 } from 'hash-wasm';
import { KernelInstance } from '../../src/kernels/instance.js';
import { createKernels } from '../../src/kernels/public.js';
import { resolveVariant } from '../../src/kernels/loader.js';
import { KernelPool } from '../../src/kernels/pool.js';
import { runVerify } from '../../src/kernels/task-runner.js';
import { fragmentLengthFor, type VerifyTask } from '../../src/kernels/tasks.js';
import { randomBytes } from '../helpers/gf-reference.js';
import { printTable, runCases, type Case } from './harness.js';

const require = createRequire(import.meta.url);
interface RonomonRS {
  create(k: number, m: number): unknown;
  encode(ctx: unknown, sources: number, targets: number, buffer: Buffer, bo: number, bs: number, parity: Buffer, po: number, ps: number, cb: (e?: Error) => void): void;
}
const ronomon = require('@ronomon/reed-solomon') as RonomonRS;

const EXTENT = 1 << 20;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const MIN_MS = Number(process.env.BENCH_MIN_MS ?? 150);

const variant = resolveVariant();
const ours = new KernelInstance(variant);
const oursSimd = variant === 'simd' ? null : new KernelInstance('simd');

/** Bits from..to-1 set: @ronomon names fragments by bit masks. */
function bits(from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) v |= 1 << i;
  return v;
}

/** One 1 MiB extent's worth of @ronomon coding (shards a multiple of 8 bytes, same data volume): run(sources, targets). */
function ronomonCoder(k: number, m: number): (sources: number, targets: number) => () => Promise<number> {
  const shard = Math.ceil(EXTENT / k / 8) * 8;
  const ctx = ronomon.create(k, m);
  const buffer = Buffer.from(randomBytes(shard * k, k));
  const parity = Buffer.alloc(shard * m);
  return (sources, targets) => () =>
    new Promise<number>((resolve, reject) => ronomon.encode(ctx, sources, targets, buffer, 0, shard * k, parity, 0, shard * m, (e) => (e ? reject(e) : resolve(shard * k))));
}

function rsCases(k: number, m: number): Case[] {
  // Ours: the fragments already sit in WASM memory (the worker reads files there).
  const fl = fragmentLengthFor(EXTENT, k);
  const region = ours.region(k + m, fl);
  region.all().set(randomBytes(k * fl, k));
  const simdRegion = oursSimd?.region(k + m, fl);
  simdRegion?.all().set(randomBytes(k * fl, k));
  const ronomonRun = ronomonCoder(k, m);
  // Reconstruct M lost data fragments (the costliest case: every output needs the inverse).
  const lostPresent = Array.from({ length: k + m }, (_, i) => i >= m);
  const ronomonSources = bits(m, k + m);
  const ronomonTargets = bits(0, m);
  const encode: Case = {
    name: `RS encode ${k}+${m}`,
    peer: '@ronomon/reed-solomon',
    contenders: [
      { name: `dynamicfs (${variant})`, run: () => (ours.encodeRegion(region, k, m), k * fl) },
      ...(simdRegion ? [{ name: 'dynamicfs (simd)', run: () => (oursSimd!.encodeRegion(simdRegion, k, m), k * fl) }] : []),
      { name: '@ronomon/reed-solomon', run: ronomonRun(bits(0, k), bits(k, k + m)) },
    ],
  };
  const reconstruct: Case = {
    name: `RS reconstruct ${k}+${m} (${m} lost)`,
    peer: '@ronomon/reed-solomon',
    contenders: [
      { name: `dynamicfs (${variant})`, run: () => (ours.reconstructRegion(region, k, m, lostPresent), k * fl) },
      ...(simdRegion ? [{ name: 'dynamicfs (simd)', run: () => (oursSimd!.reconstructRegion(simdRegion, k, m, lostPresent), k * fl) }] : []),
      { name: '@ronomon/reed-solomon', run: ronomonRun(ronomonSources, ronomonTargets) },
    ],
  };
  return [encode, reconstruct];
}

/**
 * The public API (`dynamicfs/kernels`) the way a user calls it, 4+2 on one
 * 1 MiB extent, against @ronomon on the same data volume: the copying calls,
 * rsEncode into the caller's parity buffers, and codeBuffers, whose fragments
 * live in WASM memory (the user reads its data there, as it would read it
 * into @ronomon's Buffer) and are coded in place.
 */
async function publicCases(): Promise<Case[]> {
  const k = 4;
  const m = 2;
  const api = await createKernels();
  const fl = fragmentLengthFor(EXTENT, k);
  const data = Array.from({ length: k }, (_, i) => randomBytes(fl, i + 21));
  const parityOut = Array.from({ length: m }, () => new Uint8Array(fl));
  const code = api.codeBuffers(k, m, fl);
  data.forEach((d, i) => code.fragment(i).set(d));
  code.encode();
  const all = Array.from({ length: k + m }, (_, i) => code.fragment(i).slice());
  const lostPresent = Array.from({ length: k + m }, (_, i) => i >= m);
  const withLost = all.map((f, i) => (lostPresent[i] ? f : null));
  const ronomonRun = ronomonCoder(k, m);
  return [
    {
      name: 'public API: RS encode 4+2',
      peer: '@ronomon/reed-solomon',
      contenders: [
        { name: 'rsEncode(k, m, data)', run: () => (api.rsEncode(k, m, data), k * fl) },
        { name: 'rsEncode(k, m, data, parityOut)', run: () => (api.rsEncode(k, m, data, parityOut), k * fl) },
        { name: 'codeBuffers: encode()', run: () => (code.encode(), k * fl) },
        { name: '@ronomon/reed-solomon', run: ronomonRun(bits(0, k), bits(k, k + m)) },
      ],
    },
    {
      name: 'public API: RS reconstruct 4+2 (2 lost)',
      peer: '@ronomon/reed-solomon',
      contenders: [
        { name: 'rsReconstruct(k, m, fragments)', run: () => (api.rsReconstruct(k, m, withLost), k * fl) },
        { name: 'codeBuffers: reconstruct(present)', run: () => (code.reconstruct(lostPresent), k * fl) },
        { name: '@ronomon/reed-solomon', run: ronomonRun(bits(m, k + m), bits(0, m)) },
      ],
    },
  ];
}

async function hashCase(): Promise<Case> {
  const data = randomBytes(EXTENT, 42);
  const { h64Raw } = await xxhashWasm();
  const hw = await createXXHash3();
  const hashInstance = new KernelInstance(variant);
  const resident = hashInstance.region(1, EXTENT);
  resident.set(0, data);
  return {
    name: 'XXH3-64 1 MiB',
    peer: 'xxhash-wasm h64',
    contenders: [
      { name: `dynamicfs xxh3 (${variant}, copy in)`, run: () => (ours.xxh3(data), EXTENT) },
      { name: `dynamicfs xxh3 (${variant}, in WASM memory)`, run: () => (hashInstance.hashPrefix(resident, EXTENT), EXTENT) },
      { name: 'xxhash-wasm h64', run: () => (h64Raw(data), EXTENT) },
      { name: 'hash-wasm xxh3', run: () => (hw.init().update(data).digest('binary'), EXTENT) },
      { name: 'node:crypto sha256', run: () => (createHash('sha256').update(data).digest(), EXTENT) },
    ],
  };
}

async function workerCases(dir: string): Promise<{ cases: Case[]; pool: KernelPool }> {
  const k = 4;
  const m = 2;
  const fl = fragmentLengthFor(EXTENT, k);
  const data = Array.from({ length: k }, (_, i) => randomBytes(fl, i + 9));
  const all = [...data, ...ours.rsEncode(k, m, data)];
  const fragments = all.map((payload, i) => {
    const path = join(dir, `frag.${i}`);
    writeFileSync(path, payload);
    return { path, offset: 0, expected: ours.xxh3(payload) };
  });
  const task: VerifyTask = { op: 'verify', layout: { kind: 'ec', k, m }, fragmentLength: fl, fragments, deep: true };
  const local = new KernelInstance(variant);
  const pool = new KernelPool({ minThreads: 1, maxThreads: 1 });
  await pool.run(task);
  const bytes = (k + m) * fl;
  const pipelined = async () => {
    await Promise.all([pool.run(task), pool.run(task), pool.run(task), pool.run(task)]);
    return 4 * bytes;
  };
  const batch = { op: 'batch' as const, tasks: new Array(8).fill(task) as VerifyTask[] };
  const batched = async () => {
    await pool.run(batch);
    return 8 * bytes;
  };
  const batchedPipelined = async () => {
    await Promise.all([pool.run(batch), pool.run(batch)]);
    return 16 * bytes;
  };
  return {
    pool,
    cases: [
      {
        name: 'verify 1 MiB extent 4+2 deep (read files + kernel)',
        peer: 'in this thread (kernel alone)',
        contenders: [
          { name: 'in this thread (kernel alone)', run: async () => (await runVerify(local, task), bytes) },
          { name: 'piscina, 1 task at a time', run: async () => (await pool.run(task), bytes) },
          { name: 'piscina, 4 in flight, 1 thread', run: pipelined },
          { name: 'piscina, 8 extents per task', run: batched },
          { name: 'piscina, 8 per task, 2 in flight', run: batchedPipelined },
        ],
      },
    ],
  };
}

const dir = mkdtempSync(join(tmpdir(), 'dfs-bench-'));
try {
  const worker = await workerCases(dir);
  const cases: Case[] = [...rsCases(4, 2), ...rsCases(6, 3), ...rsCases(10, 4), ...(await publicCases()), await hashCase(), ...worker.cases];
  console.log(`kernel variant: ${variant}; ${ROUNDS} rounds x >=${MIN_MS} ms per contender; 1 MiB extents; node ${process.version}`);
  const results = await runCases(cases, ROUNDS, MIN_MS);
  printTable(results, (name) => cases.find((c) => c.name === name)?.peer);
  await worker.pool.close();
  const verify = results.find((r) => r.name.startsWith('verify'))!;
  const alone = verify.gbps['in this thread (kernel alone)']!;
  const overhead = (name: string) => ((alone / verify.gbps[name]! - 1) * 100).toFixed(1);
  console.log(
    `\nworker overhead per 1 MiB extent verify: ${overhead('piscina, 1 task at a time')}% one task at a time, ` +
      `${overhead('piscina, 4 in flight, 1 thread')}% with 4 in flight, ${overhead('piscina, 8 extents per task')}% with 8 extents per task, ` +
      `${overhead('piscina, 8 per task, 2 in flight')}% with 8 per task and 2 in flight (target <= 10%)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
