// Drives the real `dynamicfs` binary on temporary pools, as a user would.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from './gf-reference.js';

export const BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** The environment the command's #! line gives node: 16 threads for fragment I/O unless set. */
export const COMMAND_ENV = { UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '16' };
/** The node flags of the command's #! line (and the systemd unit's). */
export const COMMAND_NODE_FLAGS = ['--no-memory-reducer', '--initial-old-space-size=32'];

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  raw: Buffer;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export function cli(args: string[], options: { input?: Uint8Array | string; env?: Record<string, string> } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    input: options.input,
    env: { ...process.env, ...COMMAND_ENV, ...options.env },
    maxBuffer: 256 * 1024 * 1024,
  });
  const stdout = r.stdout.toString('utf8');
  let json: unknown = null;
  if (args.includes('--json')) {
    try {
      json = JSON.parse(stdout);
    } catch {
      json = null;
    }
  }
  return { code: r.status, stdout, stderr: r.stderr.toString('utf8'), raw: r.stdout, json };
}

export function cliAsync(args: string[]): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...COMMAND_ENV } });
}

export interface TestPool {
  root: string;
  pool: string;
  disks: string[];
  /** Runs the CLI against this pool. */
  run(...args: string[]): CliResult;
  runWith(options: { input?: Uint8Array | string; env?: Record<string, string> }, ...args: string[]): CliResult;
  file(name: string, size: number, seed?: number): { path: string; bytes: Uint8Array };
  /** Changes pool.json as an operator would by hand (read by each command that opens the pool). */
  editConfig(change: (config: Record<string, unknown>) => void): void;
  cleanup(): void;
}

export function tempDir(prefix = 'dfs-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function makePool(options: { disks?: number; policy?: string; extentSize?: string } = {}): TestPool {
  const root = tempDir();
  const pool = join(root, 'pool');
  const disks = Array.from({ length: options.disks ?? 6 }, (_, i) => join(root, `disk${i + 1}`));
  for (const d of disks) mkdirSync(d);
  const init = cli(['--pool', pool, 'init', ...(options.policy ? ['--policy', options.policy] : []), ...(options.extentSize ? ['--extent-size', options.extentSize] : []), ...disks.flatMap((d) => ['--disk', d])]);
  if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
  return {
    root, pool, disks,
    run: (...args) => cli(['--pool', pool, ...args]),
    runWith: (opts, ...args) => cli(['--pool', pool, ...args], opts),
    file(name, size, seed = size + 1) {
      const path = join(root, name);
      const bytes = randomBytes(size, seed);
      writeFileSync(path, bytes);
      return { path, bytes };
    },
    editConfig(change) {
      const path = join(pool, 'pool.json');
      const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
      change(config);
      writeFileSync(path, JSON.stringify(config, null, 2));
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Every fragment and temporary file under the disks, as paths. */
export function fragmentFiles(disks: readonly string[]): string[] {
  const out: string[] = [];
  for (const disk of disks) {
    let fans: string[] = [];
    try {
      fans = readdirSync(join(disk, 'fragments'));
    } catch {
      continue;
    }
    for (const fan of fans) for (const name of readdirSync(join(disk, 'fragments', fan))) out.push(join(disk, 'fragments', fan, name));
  }
  return out.sort();
}

/** Asserts the one-line coded error of a failed command. */
export function expectCoded(r: CliResult, code: string): string | null {
  if (r.code !== 1) return `exit ${r.code} (wanted 1); stderr: ${r.stderr}`;
  if (!new RegExp(`^error: .*\\(${code}\\)\\n$`).test(r.stderr)) return `stderr was ${JSON.stringify(r.stderr)}, wanted one line with ${code}`;
  return null;
}
