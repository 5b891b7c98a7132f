// Long operations as jobs: POST /v1/jobs starts one (any operation of the
// CLI's table) and answers at once with its id; GET /v1/jobs/:id reports its
// state and progress and, once it has ended, its result or coded error. The
// CLI uses them for scrubs, rebuilds, drains and policy changes run through
// the daemon, so it can show progress and no request has to stay open for
// the whole operation. The last 100 ended jobs are kept.
import { randomBytes } from 'node:crypto';
import { DfsError, serializeError } from '../errors.js';
import type { Engine } from '../store/index.js';
import { runOp, type OpParams } from '../ops/index.js';

export const JOB_STATES = ['running', 'done', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

export interface Job {
  id: string;
  op: string;
  state: JobState;
  progress: { done: number; total: number | null };
  startedAt: string;
  finishedAt: string | null;
  result?: unknown;
  error?: { code: string; message: string };
}

const KEEP_ENDED = 100;

export class Jobs {
  private readonly jobs = new Map<string, Job>();
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly engine: Engine) {}

  start(op: string, params: OpParams, log: { info(o: object, m: string): void; warn(o: object, m: string): void }): Job {
    const job: Job = { id: randomBytes(8).toString('hex'), op, state: 'running', progress: { done: 0, total: null }, startedAt: new Date().toISOString(), finishedAt: null };
    this.jobs.set(job.id, job);
    const run = runOp(this.engine, op, params, (done, total) => {
      job.progress = { done, total };
    }).then((result) => {
      job.state = 'done';
      job.result = result;
      log.info({ job: job.id, op }, 'job done');
    }, (error: unknown) => {
      job.state = 'failed';
      const e = serializeError(error);
      job.error = { code: e.code, message: e.message };
      log.warn({ job: job.id, op, code: e.code, err: e.message }, 'job failed');
    }).finally(() => {
      job.finishedAt = new Date().toISOString();
      this.running.delete(run);
      this.prune();
    });
    this.running.add(run);
    return job;
  }

  get(id: string): Job {
    const job = this.jobs.get(id);
    if (!job) throw new DfsError('DFS_ERR_JOB_NOT_FOUND', JSON.stringify(id));
    return job;
  }

  list(): Job[] {
    return [...this.jobs.values()].map(({ result: _r, ...rest }) => rest);
  }

  /** Waits for the running jobs (the daemon's shutdown, after the server stopped taking requests). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }

  private prune(): void {
    const ended = [...this.jobs.values()].filter((j) => j.state !== 'running');
    for (const j of ended.slice(0, Math.max(0, ended.length - KEEP_ENDED))) this.jobs.delete(j.id);
  }
}
