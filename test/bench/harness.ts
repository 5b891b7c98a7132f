import http from 'node:http';
import { spawnSync } from 'node:child_process';
// A small interleaved benchmark harness. Machines here are noisy, so every
// contender of a case runs once per round, in rotating order, and the table
// reports medians; ratios are the median of per-round ratios, so drift that
// hits both sides of a round cancels out.

export interface Contender {
  name: string;
  /** Runs the work once; returns the bytes it processed. */
  run(): number | Promise<number>;
}

export interface Case {
  name: string;
  contenders: Contender[];
  /** Name of the contender the others are compared with (ratio = ours / peer). */
  peer?: string;
}

export interface CaseResult {
  name: string;
  gbps: Record<string, number>;
  ratio: Record<string, number>;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function timeFor(contender: Contender, minMs: number): Promise<number> {
  let bytes = 0;
  const start = process.hrtime.bigint();
  let elapsedNs = 0n;
  do {
    bytes += await contender.run();
    elapsedNs = process.hrtime.bigint() - start;
  } while (elapsedNs < BigInt(minMs) * 1_000_000n);
  return bytes / Number(elapsedNs); // bytes per ns = GB/s
}

export async function runCases(cases: Case[], rounds: number, minMs: number): Promise<CaseResult[]> {
  const samples = cases.map((c) => c.contenders.map(() => [] as number[]));
  for (const c of cases) for (const contender of c.contenders) await timeFor(contender, 20); // warm up JIT and caches
  for (let round = 0; round < rounds; round++) {
    for (let ci = 0; ci < cases.length; ci++) {
      const c = cases[ci]!;
      const n = c.contenders.length;
      for (let step = 0; step < n; step++) {
        const index = (step + round) % n;
        samples[ci]![index]!.push(await timeFor(c.contenders[index]!, minMs));
      }
    }
    process.stderr.write(`round ${round + 1}/${rounds}\n`);
  }
  return cases.map((c, ci) => {
    const gbps: Record<string, number> = {};
    const ratio: Record<string, number> = {};
    c.contenders.forEach((contender, i) => {
      gbps[contender.name] = median(samples[ci]![i]!);
    });
    const peerIndex = c.peer ? c.contenders.findIndex((x) => x.name === c.peer) : -1;
    if (peerIndex >= 0) {
      c.contenders.forEach((contender, i) => {
        if (i === peerIndex) return;
        ratio[contender.name] = median(samples[ci]![i]!.map((v, r) => v / samples[ci]![peerIndex]![r]!));
      });
    }
    return { name: c.name, gbps, ratio };
  });
}

export function printTable(results: CaseResult[], peerOf: (name: string) => string | undefined): void {
  const rows: string[][] = [['case', 'contender', 'GB/s', 'ratio vs peer']];
  for (const r of results) {
    const peer = peerOf(r.name);
    for (const [name, value] of Object.entries(r.gbps)) {
      const ratio = r.ratio[name];
      rows.push([r.name, name === peer ? `${name} (peer)` : name, value.toFixed(2), ratio === undefined ? '' : `${ratio.toFixed(2)}×`]);
    }
  }
  printRows(rows);
}

/**
 * The command before `node` that makes every fsync and fdatasync of the
 * process (all its threads) wait `delayUs` first, as a disk with a slower
 * flush would: strace, tracing only those two calls (--seccomp-bpf), so the
 * rest runs untouched (with 0, strace alone). Null when strace is not installed.
 */
export function slowFlushes(delayUs: number): string[] | null {
  if (spawnSync('strace', ['-V']).status !== 0) return null;
  return ['strace', '-f', '-qq', '--seccomp-bpf', '-o', '/dev/null', '-e', 'trace=fsync,fdatasync', '-e', `inject=fsync,fdatasync:delay_enter=${delayUs}`];
}

/** Prints rows (the first is the header) as a Markdown table. */
export function printRows(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(rows[0]!));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows.slice(1)) console.log(line(row));
}

/**
 * A closed loop of GETs over node:http with keep-alive: `connections` loops,
 * each one request at a time, for `seconds`. Latencies (ms) of the answers
 * that were 200 with the expected length; everything else counts as an error.
 */
export async function closedLoopGets(options: { connections: number; seconds: number; url: () => string; headers?: Record<string, string>; expectBytes?: number }): Promise<{ latencies: number[]; errors: number; ends: number[] }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const latencies: number[] = [];
  /** When each answer in `latencies` ended (performance.now()). */
  const ends: number[] = [];
  let errors = 0;
  const end = performance.now() + options.seconds * 1000;
  const one = () => new Promise<void>((resolve) => {
    const start = performance.now();
    http.get(options.url(), { agent, headers: options.headers ?? {} }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => {
        if (res.statusCode !== 200 || (options.expectBytes !== undefined && bytes !== options.expectBytes)) errors++;
        else {
          const now = performance.now();
          latencies.push(now - start);
          ends.push(now);
        }
        resolve();
      });
    }).on('error', () => {
      errors++;
      resolve();
    });
  });
  await Promise.all(Array.from({ length: options.connections }, async () => {
    while (performance.now() < end) await one();
  }));
  agent.destroy();
  return { latencies, errors, ends };
}

/** The p-quantile (0..1) of ascending values. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}
