// Small durable-file helpers: write to a temporary name, fsync, rename, fsync
// the directory. Used for pool.json, labels and the token; fragment files use
// the same steps in src/store/fragment-io.ts.
import { closeSync, fsyncSync, openSync, renameSync, writeSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { crashPoint } from '../faults/index.js';

export function fsyncDirectorySync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writeFileDurableSync(path: string, contents: string | Uint8Array, mode = 0o644): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${randomBytes(4).toString('hex')}`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    const bytes = typeof contents === 'string' ? Buffer.from(contents) : contents;
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw error;
  }
  closeSync(fd);
  crashPoint('file:synced');
  renameSync(tmp, path);
  crashPoint('file:renamed');
  fsyncDirectorySync(dir);
}
