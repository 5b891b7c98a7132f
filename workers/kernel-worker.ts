// piscina entry point: one WASM kernel instance per thread, loaded once, and
// every task handed to src/kernels/task-runner. Errors come back as data
// (structured clone would drop their DFS_ERR_* code); large results come
// back by transfer.
import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import { serializeError } from '../src/errors.js';
import { threadKernels } from '../src/kernels/instance.js';
import { resolveVariant, type KernelVariant } from '../src/kernels/loader.js';
import { runKernelTask, transferablesOf } from '../src/kernels/task-runner.js';
import type { KernelTask, TaskEnvelope } from '../src/kernels/tasks.js';

const variant = resolveVariant((workerData as { variant?: KernelVariant } | undefined)?.variant ?? 'auto');
const kernels = threadKernels(variant);

export default function runTask(task: KernelTask): unknown {
  try {
    const value = runKernelTask(kernels, task);
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
