// piscina entry point: one WASM kernel instance per thread, loaded once, and
// every task handed to src/kernels/task-runner. Errors come back as data
// (structured clone would drop their DFS_ERR_* code); large results come
// back by transfer.
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import { serializeError } from '../src/errors.js';
import { threadKernels } from '../src/kernels/instance.js';
import { resolveVariant, type KernelVariant } from '../src/kernels/loader.js';
import { runKernelTask, setBackgroundReads, transferablesOf } from '../src/kernels/task-runner.js';
import { useDiskGate } from '../src/kernels/disk-gate.js';
import type { KernelTask, TaskEnvelope } from '../src/kernels/tasks.js';

const data = workerData as { variant?: KernelVariant; niceness?: number; gate?: SharedArrayBuffer } | undefined;
const variant = resolveVariant(data?.variant ?? 'auto');
const kernels = threadKernels(variant);
useDiskGate(data?.gate);
if (data?.niceness) {
  lowerThreadPriority(data.niceness);
  idleIoClass();
  // The background pool's reads (the scrubber's) yield to clients' at each disk.
  setBackgroundReads(true);
}

/** This thread's id on Linux: the last part of /proc/thread-self. */
function threadTid(): number {
  return Number(readlinkSync('/proc/thread-self').split('/').pop());
}

/** Linux keeps a niceness per thread. Elsewhere nothing changes. */
function lowerThreadPriority(niceness: number): void {
  try {
    setPriority(threadTid(), niceness);
  } catch {
    /* not Linux, or not allowed: run at the process's priority */
  }
}

/**
 * The idle I/O class for this thread's reads (Linux keeps an I/O priority per
 * thread, as Btrfs's scrub uses; the bfq scheduler honours it, `none` and
 * mq-deadline do not). util-linux's ionice sets it: there is no call for it in
 * Node. Without ionice, or elsewhere, the reads keep the process's class.
 */
function idleIoClass(): void {
  try {
    execFileSync('ionice', ['-c', '3', '-p', String(threadTid())], { stdio: 'ignore', timeout: 2000 });
  } catch {
    /* no ionice, not Linux, or not allowed */
  }
}

export default async function runTask(task: KernelTask): Promise<unknown> {
  try {
    const value = await runKernelTask(kernels, task);
    const envelope: TaskEnvelope<unknown> = { ok: true, value };
    const transfer = transferablesOf(value);
    if (transfer.length === 0) return envelope;
    // piscina transfers (not clones) the listed buffers of an object marked by move().
    return move({
      get [transferableSymbol]() {
        return transfer;
      },
      get [valueSymbol]() {
        return envelope;
      },
    } as unknown as ArrayBuffer);
  } catch (error) {
    const envelope: TaskEnvelope<unknown> = { ok: false, error: serializeError(error) };
    return envelope;
  }
}
