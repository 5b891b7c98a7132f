// S3 access keys: <pool>/s3-keys.json, mode 0600 (its secrets are the keys
// to the pool's data). The CLI edits it under a lock file and replaces it
// atomically; the daemon re-reads it when its modification time or size
// changes, so new and deleted keys take effect without a restart.
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { randomBytes, randomInt } from 'node:crypto';
import { DfsError } from '../errors.js';
import { isProcessAlive, writeFileDurableSync } from '../pool/index.js';

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
  name: string;
  createdAt: string;
}

interface KeyFile {
  version: 1;
  keys: AccessKey[];
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function newAccessKeyId(): string {
  let id = 'DFS';
  while (id.length < 20) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
}

function readKeyFile(path: string): KeyFile {
  if (!existsSync(path)) return { version: 1, keys: [] };
  let parsed: KeyFile;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
  } catch (cause) {
    throw new DfsError('DFS_ERR_POOL_FORMAT', `${path}: ${(cause as Error).message}`, { cause });
  }
  if (parsed?.version !== 1 || !Array.isArray(parsed.keys)) throw new DfsError('DFS_ERR_POOL_FORMAT', `${path}: not an S3 key file of version 1`);
  return parsed;
}

/**
 * Runs `fn` holding `<path>.lock`: created exclusively with the holder's pid
 * in it; a lock whose holder is dead on this host is stale and taken over, as
 * the pool's own lock is (an unreadable one, once it is a few seconds old).
 */
function withLock<T>(path: string, fn: () => T): T {
  const lock = `${path}.lock`;
  const started = Date.now();
  for (;;) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      try {
        writeSync(fd, String(process.pid));
      } finally {
        closeSync(fd);
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      try {
        const pid = Number(readFileSync(lock, 'utf8'));
        const stale = Number.isInteger(pid) && pid > 0 ? !isProcessAlive(pid) : Date.now() - statSync(lock).mtimeMs > 5_000;
        if (stale) rmSync(lock, { force: true });
      } catch {
        // gone meanwhile
      }
      if (Date.now() - started > 10_000) throw new DfsError('DFS_ERR_POOL_LOCKED', `${lock} is held`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

function writeKeyFile(path: string, file: KeyFile): void {
  writeFileDurableSync(path, `${JSON.stringify(file, null, 2)}\n`, 0o600);
}

export function createAccessKey(path: string, name: string): AccessKey {
  if (typeof name !== 'string' || name.length > 128 || /[\u0000-\u001f]/.test(name)) throw new DfsError('DFS_ERR_CLI_USAGE', '--name must be at most 128 printable characters');
  return withLock(path, () => {
    const file = readKeyFile(path);
    const key: AccessKey = { accessKeyId: newAccessKeyId(), secretAccessKey: randomBytes(30).toString('base64'), name, createdAt: new Date().toISOString() };
    file.keys.push(key);
    writeKeyFile(path, file);
    return key;
  });
}

/** The keys without their secrets. */
export function listAccessKeys(path: string): Omit<AccessKey, 'secretAccessKey'>[] {
  return readKeyFile(path).keys.map(({ accessKeyId, name, createdAt }) => ({ accessKeyId, name, createdAt }));
}

export function deleteAccessKey(path: string, accessKeyId: string): void {
  withLock(path, () => {
    const file = readKeyFile(path);
    const kept = file.keys.filter((k) => k.accessKeyId !== accessKeyId);
    if (kept.length === file.keys.length) throw new DfsError('DFS_ERR_S3_KEY_UNKNOWN', accessKeyId);
    writeKeyFile(path, { version: 1, keys: kept });
  });
}

/** The daemon's view of the key file, re-read when the file changes. */
export class KeyStore {
  private stamp = '';
  private keys = new Map<string, string>();

  constructor(private readonly path: string) {}

  /** The secret of an access key, or null. */
  secret(accessKeyId: string): string | null {
    let stamp = 'none';
    try {
      const st = statSync(this.path);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      // no file: no keys
    }
    if (stamp !== this.stamp) {
      try {
        this.keys = new Map(stamp === 'none' ? [] : readKeyFile(this.path).keys.map((k) => [k.accessKeyId, k.secretAccessKey]));
        this.stamp = stamp;
      } catch {
        // A file being replaced or broken: keep the keys read last.
      }
    }
    return this.keys.get(accessKeyId) ?? null;
  }
}
