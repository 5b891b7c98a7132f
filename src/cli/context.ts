// What every pool command shares: the global options, the pool it acts on,
// the engine opened for the command and closed after it, progress bars, and
// the exit code (3 when problems remain).
import type { Command } from 'commander';
import { DfsError } from '../errors.js';
import { Engine } from '../store/index.js';
import { ProgressReporter } from './progress.js';

export class CliContext {
  exitCode = 0;

  constructor(private readonly program: Command) {}

  json(): boolean {
    return Boolean(this.program.opts().json);
  }

  logLevel(): string {
    return (this.program.opts().logLevel as string | undefined) ?? 'info';
  }

  poolDir(): string {
    const pool = (this.program.opts().pool as string | undefined) ?? process.env.DYNAMICFS_POOL;
    if (!pool) throw new DfsError('DFS_ERR_POOL_REQUIRED');
    return pool;
  }

  /** Opens the pool for the duration of `fn`; the lock and catalogue are released however it ends. */
  async withEngine<T>(fn: (engine: Engine) => Promise<T> | T): Promise<T> {
    // A one-shot command never reads an extent twice: no extent cache.
    const engine = Engine.open(this.poolDir(), { role: `cli ${this.program.args[0] ?? ''}`.trim(), cacheBytes: 0 });
    try {
      return await fn(engine);
    } finally {
      await engine.close();
    }
  }

  progress(label: string, unit: 'bytes' | 'items'): ProgressReporter {
    return new ProgressReporter(label, unit, !this.json() && Boolean(process.stdout.isTTY) && Boolean(process.stderr.isTTY));
  }

  problemsRemain(): void {
    this.exitCode = 3;
  }
}

/** Collects a repeatable option into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
