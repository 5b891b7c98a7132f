// Talking to the daemon that owns a pool: finding it (run/daemon.json and a
// live owner lock), running an operation through its API, and moving object
// bytes through the object routes.
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DfsError, ERRORS, type ErrorCode } from '../errors.js';
import { isProcessAlive, poolPaths, readLock } from '../pool/index.js';
import type { OpParams } from '../ops/index.js';

export interface Daemon {
  url: string;
  token: string;
  pid: number;
}

/** The daemon that owns the pool, or null when none runs (a dead one's leftovers are ignored). */
export function findDaemon(poolDir: string): Daemon | null {
  const paths = poolPaths(poolDir);
  const infoPath = paths.daemon;
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

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * One request to the daemon over node:http. Not fetch: its client gives up
 * on a response that has not started within 300 s, and a scrub, rebuild or
 * drain run through the daemon answers only when it is done.
 */
function call(daemon: Daemon, path: string, init: { method?: string; headers?: Record<string, string>; body?: string | Readable } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const unreachable = (cause: Error) => new DfsError('DFS_ERR_DAEMON_UNREACHABLE', `${daemon.url} (pid ${daemon.pid}): ${cause.message}`, { cause });
    let answered = false;
    const req = httpRequest(new URL(path, daemon.url), { method: init.method ?? 'GET', headers: { authorization: `Bearer ${daemon.token}`, ...init.headers } }, (res) => {
      answered = true;
      const answer: Answer = { status: res.statusCode ?? 0, headers: res.headers, body: res, text: () => readAll(res), json: async () => JSON.parse(await readAll(res)) as unknown };
      if (answer.status < 400) return resolve(answer);
      // A refusal may come before the whole body was sent: stop sending it.
      if (init.body instanceof Readable) init.body.destroy();
      answer.json().then((body) => reject(errorFrom(body, answer.status)), () => reject(errorFrom(null, answer.status)));
    });
    req.on('error', (cause) => {
      if (!answered) reject(unreachable(cause));
    });
    if (init.body instanceof Readable) {
      pipeline(init.body, req).catch((cause: Error) => {
        if (answered) return;
        req.destroy();
        reject(cause instanceof DfsError ? cause : (cause as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE' ? unreachable(cause) : new DfsError('DFS_ERR_INPUT_READ', cause.message, { cause }));
      });
    } else req.end(init.body);
  });
}

export async function remoteMetrics(daemon: Daemon): Promise<string> {
  return (await call(daemon, '/metrics')).text();
}

export async function remoteOp(daemon: Daemon, name: string, params: OpParams): Promise<unknown> {
  const response = await call(daemon, `/v1/ops/${encodeURIComponent(name)}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params),
  });
  return response.json();
}

/** Runs an operation as a daemon job, polling for progress until it ends; its result, or its coded error. */
export async function remoteJob(daemon: Daemon, name: string, params: OpParams, onProgress?: (done: number, total: number | null) => void): Promise<unknown> {
  interface JobView { id: string; state: 'running' | 'done' | 'failed'; progress: { done: number; total: number | null }; result?: unknown; error?: { code: string; message: string } }
  const started = (await (await call(daemon, '/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ op: name, params }) })).json()) as JobView;
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    const job = (await (await call(daemon, `/v1/jobs/${started.id}`)).json()) as JobView;
    onProgress?.(job.progress.done, job.progress.total);
    if (job.state === 'done') return job.result;
    if (job.state === 'failed') throw errorFrom({ error: job.error }, 500);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

export function objectPath(key: string): string {
  return `/v1/objects/${encodeURIComponent(key)}`;
}

export async function remotePut(daemon: Daemon, body: Readable, key: string, policy: string | undefined, length: number | null = null): Promise<Record<string, unknown>> {
  const query = policy ? `?policy=${encodeURIComponent(policy)}` : '';
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream', ...(length !== null ? { 'content-length': String(length) } : {}) };
  const response = await call(daemon, `${objectPath(key)}${query}`, { method: 'PUT', headers, body });
  return (await response.json()) as Record<string, unknown>;
}

/** One page of the daemon's object listing. */
export async function remoteListPage(daemon: Daemon, query: { prefix?: string; after?: string; token?: string; limit: number }): Promise<{ objects: unknown[]; nextToken: string | null }> {
  const params = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
  return (await (await call(daemon, `/v1/objects?${params}`)).json()) as { objects: unknown[]; nextToken: string | null };
}

/** An object's bytes as a stream, with its size and checksum. */
export async function remoteGet(daemon: Daemon, key: string): Promise<{ body: Readable; size: number; checksum: string }> {
  const response = await call(daemon, objectPath(key));
  const checksum = response.headers['x-dynamicfs-checksum'];
  return { body: response.body, size: Number(response.headers['content-length'] ?? 0), checksum: typeof checksum === 'string' ? checksum : '' };
}
