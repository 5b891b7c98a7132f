// The daemon: owns the pool (its lock), serves the HTTP API, and keeps the
// worker pool warm. It writes <pool>/run/daemon.json (pid, url) so that
// commands can find it, and on SIGTERM/SIGINT stops taking requests, lets
// in-flight ones finish, closes the worker pool and catalogue, removes
// daemon.json and exits 0.
import { readFileSync, rmSync } from 'node:fs';
import { DfsError } from '../errors.js';
import { createLogger, setRootLogger } from '../log/index.js';
import { createMetricsRegistry } from '../metrics/index.js';
import { writeFileDurableSync } from '../pool/index.js';
import { BackgroundCompactor, Engine } from '../store/index.js';
import { scrubService } from '../scrub/index.js';
import { buildApp } from './app.js';
import { createS3Server } from '../s3/index.js';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Starts listening; the URL it listens on. */
function listen(server: Server, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      resolve(`http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
    });
  });
}

/** How long a stopping daemon lets in-flight requests finish. */
const SHUTDOWN_GRACE_MS = graceFrom(process.env.DYNAMICFS_SHUTDOWN_GRACE_MS);

/** The grace period from the environment: a non-negative number of ms (0: cut at once), else the default 10 s. */
function graceFrom(text: string | undefined): number {
  const ms = Number(text);
  return text !== undefined && text.trim() !== '' && Number.isFinite(ms) && ms >= 0 ? ms : 10_000;
}

/** Signals this close to the first are the same stop request (see runDaemon). */
const REPEAT_SIGNAL_MS = 500;

export interface DaemonOptions {
  port: number;
  bind: string;
  logLevel: string;
  /** Start a scrub pass as soon as the daemon is up (`scrub-daemon start`). */
  startScrub?: boolean;
  /** The S3 listener's port on the same address (0: a free one), or null for none. */
  s3Port?: number | null;
}

export interface DaemonInfo {
  pid: number;
  url: string;
  /** The S3 endpoint, when the listener is on. */
  s3Url?: string;
  startedAt: string;
}


/** Threads in libuv's pool, which runs the fragment I/O: UV_THREADPOOL_SIZE read as libuv reads it (unset 4; atoi, 0 taken as 1, at most 1024). */
export function ioThreadCount(value = process.env.UV_THREADPOOL_SIZE): number {
  if (value === undefined) return 4;
  const n = Number.parseInt(value, 10);
  if (!Number.isFinite(n) || n === 0) return 1;
  return n < 0 || n > 1024 ? 1024 : n;
}

export async function runDaemon(poolDir: string, options: DaemonOptions): Promise<never> {
  const logger = createLogger(options.logLevel);
  setRootLogger(logger);
  const engine = Engine.open(poolDir, { role: 'daemon', prefault: true });
  const infoPath = engine.paths.daemon;
  let url: string;
  let app: Awaited<ReturnType<typeof buildApp>>;
  let s3: Server | null = null;
  let s3Url: string | undefined;
  // Packs that are mostly dead bytes are rewritten in the background when the pool is idle.
  const compactor = new BackgroundCompactor(engine);
  try {
    const token = readFileSync(engine.paths.token, 'utf8').trim();
    const checkpointMs = Number(process.env.DYNAMICFS_SCRUB_CHECKPOINT_MS ?? 10_000);
    const scrub = scrubService(engine, { checkpointMs: Number.isFinite(checkpointMs) && checkpointMs > 0 ? Math.min(checkpointMs, 10_000) : 10_000 });
    const registry = createMetricsRegistry({ engine, scrub, onWorkers: (observe) => engine.pools.observe(observe) });
    app = await buildApp({ engine, registry, token, logger });
    try {
      url = await app.listen({ port: options.port, host: options.bind });
    } catch (cause) {
      throw new DfsError('DFS_ERR_DAEMON_LISTEN', `${options.bind}:${options.port}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { cause });
    }
    const s3Port = options.s3Port === undefined ? 9000 : options.s3Port;
    if (s3Port !== null) {
      s3 = createS3Server({ engine, logger, registry });
      try {
        s3Url = await listen(s3, s3Port, options.bind);
      } catch (cause) {
        await app.close();
        throw new DfsError('DFS_ERR_DAEMON_LISTEN', `S3 on ${options.bind}:${s3Port}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message} (choose another with --s3-port, or --no-s3)`, { cause });
      }
    }
    engine.workers(); // start the worker threads now, not on the first request
    const info: DaemonInfo = { pid: process.pid, url, ...(s3Url ? { s3Url } : {}), startedAt: new Date().toISOString() };
    writeFileDurableSync(infoPath, `${JSON.stringify(info)}\n`);
    scrub.startBackground();
    compactor.start();
    if (options.startScrub) await scrub.start();
  } catch (error) {
    await engine.close();
    throw error;
  }
  const ioThreads = ioThreadCount();
  logger.info({ url, ...(s3Url ? { s3Url } : {}), pool: engine.root, poolId: engine.poolId, ioThreads }, 'dynamicfs daemon listening');
  if (process.env.UV_THREADPOOL_SIZE === undefined) {
    logger.warn({ ioThreads, code: 'DFS_WARN_IO_THREADS' }, 'fragment I/O runs on libuv\'s default 4 threads: start the daemon with UV_THREADPOOL_SIZE=16 in its environment (the dynamicfs command, npm start and the systemd unit do)');
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    try {
      await scrubService(engine).close(); // the running pass checkpoints its cursor
      await compactor.stop();
      // In-flight requests get a grace period; then their connections are cut. The timer also keeps
      // the event loop alive while the server drains (a close can otherwise wait on nothing at all).
      let deadline: NodeJS.Timeout | undefined;
      const cut = new Promise<'timeout'>((resolve) => {
        deadline = setTimeout(() => resolve('timeout'), SHUTDOWN_GRACE_MS);
      });
      const s3Closed = s3 ? new Promise<void>((resolve) => s3!.close(() => resolve())) : Promise.resolve();
      const closed = Promise.all([app.close(), s3Closed]).then(() => 'closed' as const);
      if ((await Promise.race([closed, cut])) === 'timeout') {
        logger.warn({ graceMs: SHUTDOWN_GRACE_MS, resources: process.getActiveResourcesInfo() }, 'requests still in flight at the shutdown deadline; closing their connections');
        app.server.closeAllConnections();
        s3?.closeAllConnections();
        await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000))]);
      }
      clearTimeout(deadline);
      await engine.close();
    } finally {
      rmSync(infoPath, { force: true });
      logger.info('stopped');
      logger.flush();
      process.exit(0);
    }
  };
  // A terminal's Ctrl-C reaches every process of its group: under `npm start` the daemon gets the
  // signal directly and again forwarded by its parents, within milliseconds. Repeats that close
  // are the same request; a signal that comes later (an impatient second Ctrl-C) stops at once,
  // still leaving run/ clean: no daemon.json, no lock.
  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (!stopping) {
      firstSignalAt = now;
      void stop(signal);
      return;
    }
    if (now - firstSignalAt < REPEAT_SIGNAL_MS) return;
    logger.warn({ signal }, 'second signal: stopping now, without waiting for requests in flight');
    try {
      engine.closeNow();
    } finally {
      rmSync(infoPath, { force: true });
      logger.info('stopped');
      logger.flush();
      process.exit(0);
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return new Promise<never>(() => {});
}
