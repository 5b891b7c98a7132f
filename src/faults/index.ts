// Crash points and injected disk faults, for the reliability suites only.
// Both are off unless an environment variable turns them on; then every
// durable step of the disk I/O layer (fragment open/write/fsync/rename,
// directory fsync, catalogue commit, file removal, pool.json replacement)
// passes through here.
//
//   DYNAMICFS_CRASH_AT=N        SIGKILL this process at the N-th crash point
//   DYNAMICFS_CRASH_LABEL=L     ...or at the first crash point labelled L (L#K: the K-th)
//   DYNAMICFS_CRASH_LOG=FILE    write the label of the point it died at
//   DYNAMICFS_CRASH_COUNT=FILE  on exit, write how many points were passed
//   DYNAMICFS_FAULTS=JSON       injected faults: [{"op","disk","errno","delayMs","after","times"}]
//                               op: open|write|fsync|rename|unlink|read; disk: a path prefix
//                               (omitted: every disk); errno: EIO, ENOSPC, ...; delayMs: a slow
//                               disk; after: let that many matching calls through first;
//                               times: fail that many matching calls, then recover
import { appendFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const crashAt = Number(process.env.DYNAMICFS_CRASH_AT ?? 0);
const [crashLabel, crashLabelNth] = (process.env.DYNAMICFS_CRASH_LABEL ?? '').split('#');
const crashLabelAt = Number(crashLabelNth ?? 1);
const crashLog = process.env.DYNAMICFS_CRASH_LOG;
const countFile = process.env.DYNAMICFS_CRASH_COUNT;
const counting = crashAt > 0 || Boolean(crashLabel) || Boolean(countFile);
let passed = 0;
let labelPassed = 0;

if (countFile) process.on('exit', () => writeFileSync(countFile, `${passed}\n`));

/** One durable step: counted, and the process dies here when it is the chosen one. */
export function crashPoint(label: string): void {
  if (!counting) return;
  passed++;
  if (label === crashLabel) labelPassed++;
  if (passed === crashAt || (label === crashLabel && labelPassed === crashLabelAt)) {
    if (crashLog) appendFileSync(crashLog, `${passed} ${label}\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}

export type FaultOp = 'open' | 'write' | 'fsync' | 'rename' | 'unlink' | 'read';

interface FaultRule {
  op: FaultOp;
  disk?: string;
  errno?: string;
  delayMs?: number;
  after?: number;
  times?: number;
  seen: number;
  failed: number;
}

function parseRules(): FaultRule[] {
  const text = process.env.DYNAMICFS_FAULTS;
  if (!text) return [];
  const parsed = JSON.parse(text) as Omit<FaultRule, 'seen' | 'failed'>[];
  return (Array.isArray(parsed) ? parsed : [parsed]).map((r) => ({ ...r, seen: 0, failed: 0 }));
}

const rules = parseRules();

function match(op: FaultOp, path: string): FaultRule[] {
  return rules.filter((r) => r.op === op && (!r.disk || path.startsWith(r.disk)));
}

function decide(rule: FaultRule): 'pass' | 'fault' {
  rule.seen++;
  if (rule.seen <= (rule.after ?? 0)) return 'pass';
  if (rule.times !== undefined && rule.failed >= rule.times) return 'pass';
  rule.failed++;
  return 'fault';
}

function errorFor(rule: FaultRule, op: FaultOp, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${rule.errno}: injected fault, ${op} '${path}'`), { code: rule.errno, syscall: op, path });
}

/** Whether any disk fault is injected (DYNAMICFS_FAULTS): hot paths skip diskFault without it. */
export function faultsInjected(): boolean {
  return rules.length > 0;
}

/** Applies the injected faults for one disk operation: a delay, or an errno error. No-op unless DYNAMICFS_FAULTS is set. */
export async function diskFault(op: FaultOp, path: string): Promise<void> {
  if (rules.length === 0) return;
  for (const rule of match(op, path)) {
    if (decide(rule) === 'pass') continue;
    if (rule.delayMs) await sleep(rule.delayMs);
    if (rule.errno) throw errorFor(rule, op, path);
  }
}

/** The synchronous form, for reads in the worker threads (a delay blocks the thread, as a slow disk does). */
export function diskFaultSync(op: FaultOp, path: string): void {
  if (rules.length === 0) return;
  for (const rule of match(op, path)) {
    if (decide(rule) === 'pass') continue;
    if (rule.delayMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, rule.delayMs);
    if (rule.errno) throw errorFor(rule, op, path);
  }
}
