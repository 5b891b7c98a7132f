// Load for the daemon's memory: many PUTs (and GETs) from concurrent clients
// over node:http with keep-alive, while a sampler reads the daemon's RSS
// (VmRSS of /proc/PID/status) and CPU (utime+stime of /proc/PID/stat, all
// threads). Used by `npm run bench:memory` and, shorter, by the e2e memory test.
import http from 'node:http';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

const CLOCK_TICKS = 100; // USER_HZ on Linux

export function rssBytes(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

/**
 * Bytes the process (every thread) has had fetched from storage rather than
 * the page cache (`read_bytes` of /proc/PID/io), or null where that is not readable.
 */
export function storageReadBytes(pid: number | 'self'): number | null {
  if (!existsSync(`/proc/${pid}/io`)) return null;
  const match = /^read_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return match ? Number(match[1]) : null;
}

/** CPU seconds (user + system, every thread) the process has used; given `PID/task/TID`, one thread's. */
export function cpuSeconds(pid: number | string): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime (fields 14 and 15)
}

/** CPU seconds (utime+stime) of each of a process's threads, by thread id. */
export function threadCpuSeconds(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      out.set(Number(tid), cpuSeconds(`${pid}/task/${tid}`));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

export interface Sample {
  ms: number;
  rss: number;
  phase: string;
}

/** Samples a process's RSS every `everyMs` until stopped. */
export class RssSampler {
  readonly samples: Sample[] = [];
  phase = 'start';
  private readonly timer: NodeJS.Timeout;
  readonly start = Date.now();

  constructor(private readonly pid: number, everyMs = 100) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): void {
    try {
      this.samples.push({ ms: Date.now() - this.start, rss: rssBytes(this.pid), phase: this.phase });
    } catch {
      // the process is gone
    }
  }

  stop(): Sample[] {
    clearInterval(this.timer);
    this.sample();
    return this.samples;
  }

  get peak(): number {
    return Math.max(...this.samples.map((s) => s.rss));
  }
}

export interface LoadResult {
  requests: number;
  errors: string[];
  seconds: number;
}

/** One request over `agent`: its status and the bytes of its body (counted, not kept). */
export function request(agent: http.Agent, url: URL, method: string, token: string, body?: Buffer): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method, agent,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/octet-stream', 'content-length': body.length } : {}) },
    }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export type Op = { kind: 'put'; size: number } | { kind: 'get' };

/** A mixed schedule: the PUTs and GETs spread evenly over it (deterministic). */
export function mixedSchedule(parts: { smallPuts: number; smallSize: number; largePuts: number; largeSize: number; gets: number }): Op[] {
  const ops: { at: number; op: Op }[] = [];
  const spread = (n: number, op: Op, phase: number) => {
    for (let i = 0; i < n; i++) ops.push({ at: (i + phase) / n, op });
  };
  spread(parts.smallPuts, { kind: 'put', size: parts.smallSize }, 0);
  spread(parts.largePuts, { kind: 'put', size: parts.largeSize }, 0.5);
  spread(parts.gets, { kind: 'get' }, 0.25);
  return ops.sort((a, b) => a.at - b.at).map((o) => o.op);
}

/**
 * Runs `ops` from `clients` closed loops (each takes the next op when its
 * last one is answered). PUTs write fresh keys under `prefix`; a GET reads a
 * random object stored earlier in the run and checks its length.
 */
export async function runLoad(options: {
  url: string; token: string; ops: Op[]; clients: number; prefix: string; onProgress?: (done: number) => void;
}): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.clients });
  const errors: string[] = [];
  const stored: { key: string; size: number }[] = [];
  const bodies = new Map<number, Buffer[]>();
  // A few bodies per size, reused: the client's own allocations stay out of the picture.
  for (const op of options.ops) if (op.kind === 'put' && !bodies.has(op.size)) bodies.set(op.size, Array.from({ length: 4 }, () => randomBytes(op.size)));
  let next = 0;
  let done = 0;
  let random = 12345;
  const start = process.hrtime.bigint();
  const loop = async () => {
    for (let i = next++; i < options.ops.length; i = next++) {
      const op = options.ops[i]!;
      try {
        if (op.kind === 'put') {
          const key = `${options.prefix}${i}`;
          const r = await request(agent, new URL(`/v1/objects/${encodeURIComponent(key)}`, options.url), 'PUT', options.token, bodies.get(op.size)![i % 4]);
          if (r.status !== 200) errors.push(`PUT ${key}: status ${r.status}`);
          else stored.push({ key, size: op.size });
        } else if (stored.length > 0) {
          random = (random * 1103515245 + 12345) % 2147483648;
          const { key, size } = stored[random % stored.length]!;
          const r = await request(agent, new URL(`/v1/objects/${encodeURIComponent(key)}`, options.url), 'GET', options.token);
          if (r.status !== 200 || r.bytes !== size) errors.push(`GET ${key}: status ${r.status}, ${r.bytes} of ${size} bytes`);
        }
      } catch (error) {
        errors.push(`${op.kind} ${i}: ${(error as Error).message}`);
      }
      options.onProgress?.(++done);
    }
  };
  await Promise.all(Array.from({ length: options.clients }, loop));
  agent.destroy();
  return { requests: options.ops.length, errors, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

/** Median RSS of the first and the last quarter of the samples (by time). */
export function quarters(samples: readonly Sample[]): { first: number; last: number } {
  const origin = samples[0]?.ms ?? 0;
  const end = (samples[samples.length - 1]?.ms ?? 0) - origin;
  const med = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[s.length >> 1] ?? 0;
  };
  return {
    first: med(samples.filter((s) => s.ms - origin <= end / 4).map((s) => s.rss)),
    last: med(samples.filter((s) => s.ms - origin >= (end * 3) / 4).map((s) => s.rss)),
  };
}
