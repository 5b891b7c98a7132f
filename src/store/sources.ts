// Where a put's bytes come from: a file, a stream (stdin, an HTTP body), or
// another object (change-policy). Each fills an extent buffer at a time, so a
// put holds a bounded number of extents in memory whatever the object size.
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { DfsError } from '../errors.js';

export interface ExtentSource {
  /** Fills `into` as far as the input allows; returns the bytes written (less than its length only at the end). */
  fill(into: Uint8Array): Promise<number>;
  close(): Promise<void>;
  /** Total bytes when known in advance (for progress). */
  readonly sizeHint: number | null;
}

export async function fileSource(path: string): Promise<ExtentSource> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new DfsError('DFS_ERR_INPUT_NOT_FOUND', `${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  const stat = await handle.stat();
  if (!stat.isFile() && !stat.isFIFO() && !stat.isCharacterDevice()) {
    await handle.close();
    throw new DfsError('DFS_ERR_INPUT_NOT_FILE', `${path} is ${stat.isDirectory() ? 'a directory' : 'not a regular file, pipe or character device'}`);
  }
  let position = 0;
  return {
    sizeHint: stat.isFile() ? stat.size : null,
    async fill(into) {
      let got = 0;
      while (got < into.length) {
        let n: number;
        try {
          ({ bytesRead: n } = await handle.read(into, got, into.length - got, stat.isFile() ? position : null));
        } catch (error) {
          throw new DfsError('DFS_ERR_INPUT_READ', `${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
        }
        if (n === 0) break;
        got += n;
        position += n;
      }
      return got;
    },
    close: () => handle.close(),
  };
}

export function streamSource(stream: Readable, sizeHint: number | null = null): ExtentSource {
  async function* chunks(): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of stream as AsyncIterable<Buffer | string>) yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    } catch (error) {
      throw new DfsError('DFS_ERR_INPUT_READ', (error as Error).message, { cause: error });
    }
  }
  return chunkSource(chunks(), sizeHint);
}

/** A source over an async sequence of byte chunks (another object's extents). */
export function chunkSource(chunks: AsyncIterable<Uint8Array>, sizeHint: number | null): ExtentSource {
  const iterator = chunks[Symbol.asyncIterator]();
  let pending: Uint8Array | null = null;
  let done = false;
  return {
    sizeHint,
    async fill(into) {
      let got = 0;
      while (got < into.length) {
        if (!pending || pending.length === 0) {
          if (done) break;
          const next = await iterator.next();
          if (next.done) {
            done = true;
            break;
          }
          pending = next.value;
          continue;
        }
        const n = Math.min(pending.length, into.length - got);
        into.set(pending.subarray(0, n), got);
        pending = pending.subarray(n);
        got += n;
      }
      return got;
    },
    async close() {
      if (!done) await iterator.return?.();
    },
  };
}
