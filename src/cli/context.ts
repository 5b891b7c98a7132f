// What every pool command shares: the global options, the pool it acts on,
// the engine opened for the command and closed after it, progress bars, and
// the exit code (3 when problems remain).
import type { Command } from 'commander';
import { DfsError } from '../errors.js';
import { resolve } from 'node:path';
import { createLogger, setRootLogger } from '../log/index.js';
import { Engine } from '../store/index.js';
import { runOp, type OpParams } from '../ops/index.js';
import { ProgressReporter } from './progress.js';
import { findDaemon, remoteJob, remoteOp, type Daemon } from './remote.js';

export class CliContext {
  exitCode = 0;

  constructor(private readonly program: Command) {}

  json(): boolean {
    return Boolean(this.program.opts().json);
  }

  /** The --log-level given, or the default: `info` for the daemon, silent for one-shot commands. */
  logLevel(fallback = 'silent'): string {
    return (this.program.opts().logLevel as string | undefined) ?? fallback;
  }

  poolDir(): string {
    const pool = (this.program.opts().pool as string | undefined) ?? process.env.DYNAMICFS_POOL;
    if (!pool) throw new DfsError('DFS_ERR_POOL_REQUIRED');
    return pool;
  }

  /** The daemon that owns the pool, if one runs: commands then go through its API. */
  daemon(): Daemon | null {
    return findDaemon(this.poolDir());
  }

  /**
   * Runs a pool operation: through the daemon when one owns the pool,
   * otherwise on the pool opened for this command (with a progress bar).
   */
  async op<T>(name: string, params: OpParams = {}, progressLabel?: string): Promise<T> {
    const daemon = this.daemon();
    if (daemon && progressLabel) {
      // Long work through the daemon runs as a job: progress while it runs, no request held open.
      const progress = this.progress(progressLabel, 'items');
      try {
        return (await remoteJob(daemon, name, params, progress.update)) as T;
      } finally {
        progress.stop();
      }
    }
    if (daemon) return (await remoteOp(daemon, name, params)) as T;
    return this.withEngine(async (engine) => {
      const progress = progressLabel ? this.progress(progressLabel, 'items') : null;
      try {
        return (await runOp(engine, name, params, progress?.update)) as T;
      } finally {
        progress?.stop();
      }
    });
  }

  /** Opens the pool for the duration of `fn`; the lock and catalogue are released however it ends. */
  async withEngine<T>(fn: (engine: Engine) => Promise<T> | T): Promise<T> {
    const level = this.logLevel();
    if (level !== 'silent') setRootLogger(createLogger(level));
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

/** A disk given as a path is made absolute where the command was typed, before it may travel to a daemon. */
export function diskParam(ref: string): string {
  return /^disk-[0-9a-f]{8}$/.test(ref) ? ref : resolve(ref);
}

/** Collects a repeatable option into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
