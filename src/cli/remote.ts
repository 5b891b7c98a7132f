// Talking to the daemon that owns a pool: finding it (run/daemon.json and a
// live owner lock), running an operation through its API, and moving object
// bytes through the object routes.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DfsError, ERRORS, type ErrorCode } from '../errors.js';
import { isProcessAlive, poolPaths, readLock } from '../pool/index.js';
import type { OpParams } from '../store/index.js';

export interface Daemon {
  url: string;
  token: string;
  pid: number;
}

/** The daemon that owns the pool, or null when none runs (a dead one's leftovers are ignored). */
export function findDaemon(poolDir: string): Daemon | null {
  const paths = poolPaths(poolDir);
  const infoPath = join(paths.run, 'daemon.json');
  if (!existsSync(infoPath)) return null;
  let info: { url?: string; pid?: number };
  try {
    info = JSON.parse(readFileSync(infoPath, 'utf8')) as typeof info;
  } catch {
    return null;
  }
  const lock = readLock(poolDir);
  if (!info.url || !info.pid || !lock || lock.pid !== info.pid || !isProcessAlive(info.pid)) return null;
  return { url: info.url, pid: info.pid, token: readFileSync(paths.token, 'utf8').trim() };
}

function errorFrom(body: unknown, status: number): DfsError {
  const e = (body as { error?: { code?: string; message?: string } } | null)?.error;
  const code = (e?.code && e.code in ERRORS ? e.code : 'DFS_ERR_INTERNAL_UNEXPECTED') as ErrorCode;
  const error = new DfsError(code);
  error.message = e?.message ?? `the daemon answered HTTP ${status}`;
  return error;
}

async function call(daemon: Daemon, path: string, init: RequestInit = {}): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(`${daemon.url}${path}`, { ...init, headers: { authorization: `Bearer ${daemon.token}`, ...(init.headers ?? {}) } });
  } catch (cause) {
    throw new DfsError('DFS_ERR_DAEMON_UNREACHABLE', `${daemon.url} (pid ${daemon.pid}): ${(cause as Error).message}`, { cause });
  }
  if (!response.ok) throw errorFrom(await response.json().catch(() => null), response.status);
  return response;
}

/** The daemon's /metrics text (unauthenticated, like a Prometheus scrape). */
export async function remoteMetrics(daemon: Daemon): Promise<string> {
  return (await call(daemon, '/metrics')).text();
}

export async function remoteOp(daemon: Daemon, name: string, params: OpParams): Promise<unknown> {
  const response = await call(daemon, `/v1/ops/${encodeURIComponent(name)}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params),
  });
  return response.json();
}

export function objectPath(key: string): string {
  return `/v1/objects/${encodeURIComponent(key)}`;
}

export async function remotePut(daemon: Daemon, body: Readable, key: string, policy: string | undefined): Promise<Record<string, unknown>> {
  const query = policy ? `?policy=${encodeURIComponent(policy)}` : '';
  const response = await call(daemon, `${objectPath(key)}${query}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: Readable.toWeb(body) as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  return (await response.json()) as Record<string, unknown>;
}

/** An object's bytes as a stream, with its size and checksum. */
export async function remoteGet(daemon: Daemon, key: string): Promise<{ body: Readable; size: number; checksum: string }> {
  const response = await call(daemon, objectPath(key));
  return {
    body: Readable.fromWeb(response.body as import('node:stream/web').ReadableStream),
    size: Number(response.headers.get('content-length') ?? 0),
    checksum: response.headers.get('x-dynamicfs-checksum') ?? '',
  };
}

