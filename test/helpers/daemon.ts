// A real daemon (or Prometheus) as a child process on loopback, for e2e tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { BIN, COMMAND_ENV, COMMAND_NODE_FLAGS } from './cli.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(what: string, probe: () => T | null | Promise<T | null>, ms = 30_000, context: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${context() ? `; ${context()}` : ''}`);
    await sleep(100);
  }
}

export interface RunningDaemon {
  child: ChildProcess;
  /** The daemon's pid, as run/daemon.json gives it (the child's, unless the launch wraps node in another program). */
  pid: number;
  url: string;
  /** The S3 endpoint (the daemon listens on a free port for it unless the args say otherwise). */
  s3Url: string | null;
  token: string;
  stderr(): string;
  /** SIGTERM (or the given signal) to the daemon and wait for the child's exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `dynamicfs <args> --port 0` (and `--s3-port 0` unless the args set
 * S3) on the pool and waits for run/daemon.json. By default it runs as the
 * `dynamicfs` command (its #! line) and the systemd unit run the daemon;
 * `launch` replaces that command (`[BIN]` runs the #! line itself), and an
 * `env` value of undefined takes the variable out of the environment.
 */
export async function startDaemon(
  pool: string,
  args: string[] = ['serve'],
  env: Record<string, string | undefined> = {},
  launch: string[] = [process.execPath, ...COMMAND_NODE_FLAGS, BIN],
): Promise<RunningDaemon> {
  rmSync(join(pool, 'run', 'daemon.json'), { force: true });
  let stderr = '';
  const s3 = args.some((a) => a === '--no-s3' || a === '--s3-port') ? [] : ['--s3-port', '0'];
  const childEnv: Record<string, string | undefined> = { ...process.env, ...COMMAND_ENV, ...env };
  for (const [name, value] of Object.entries(childEnv)) if (value === undefined) delete childEnv[name];
  const [command, ...before] = launch;
  const child = spawn(command!, [...before, '--pool', pool, ...args, '--port', '0', ...s3], { stdio: ['ignore', 'ignore', 'pipe'], env: childEnv });
  child.stderr!.on('data', (d) => (stderr += d));
  const { url, s3Url, pid } = await waitFor('daemon.json', () => {
    if (child.exitCode !== null) throw new Error(`the daemon exited ${child.exitCode}: ${stderr}`);
    try {
      return JSON.parse(readFileSync(join(pool, 'run', 'daemon.json'), 'utf8')) as { url: string; s3Url?: string; pid: number };
    } catch {
      return null;
    }
  }, 30_000, () => `daemon stderr: ${stderr.slice(-2000)}`);
  return {
    child, pid, url, s3Url: s3Url ?? null,
    token: readFileSync(join(pool, 'token'), 'utf8').trim(),
    stderr: () => stderr,
    stop(signal = 'SIGTERM') {
      if (child.exitCode !== null) return Promise.resolve(child.exitCode);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        process.kill(pid, signal);
      } catch {
        // gone already: its exit is on the way
      }
      return exited;
    },
  };
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Metric names (the text before labels or value) of a Prometheus text scrape. */
export function scrapedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )/.exec(line);
    if (m) names.add(m[1]!);
  }
  return names;
}

/**
 * Metrics a scrape declares (`# TYPE`) but gives no sample now: those absent
 * until they mean something (an ETA before a pass has a rate, the deadline
 * gauges without a deadline).
 */
export function declaredWithoutSamples(text: string): Set<string> {
  const sampled = scrapedNames(text);
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) /gm)) if (!sampled.has(m[1]!)) names.add(m[1]!);
  return names;
}
