// Object commands: put, get, ls, stat, rm.
import type { Command } from 'commander';
import { createReadStream } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DfsError } from '../errors.js';
import { count, formatBytes, parsePolicy } from '../pool/index.js';
import { fileSource, lookupObject, objectSummary, putObject, readObject, streamSource, type Engine, type objectView, type PutResult } from '../store/index.js';
import type { CliContext } from './context.js';
import { remoteGet, remoteListPage, remotePut, type Daemon } from './remote.js';
import { escapeControls, printResult, table } from './output.js';
import { interruptible, interruptStream, onInterrupt } from './interrupt.js';

/** What `put` reports, locally or through the daemon. */
type StoredObject = Omit<PutResult, 'objectId'>;

/** Extents `stat` lists for people (--json lists all). */
const STAT_EXTENTS_SHOWN = 20;

export function registerObjectCommands(program: Command, ctx: CliContext): void {
  program
    .command('put')
    .description('store a file (or stdin with -) as an object')
    .argument('<file>', 'input file, or - for stdin')
    .option('--key <key>', 'object key (default: the file name)')
    .option('--policy <policy>', 'replication:N or ec:K+M (default: the pool default)')
    .action(async (file: string, opts: { key?: string; policy?: string }) => {
      const key = opts.key ?? (file === '-' ? undefined : basename(file));
      if (key === undefined) throw new DfsError('DFS_ERR_CLI_USAGE', 'reading stdin needs --key');
      const policy = opts.policy === undefined ? undefined : parsePolicy(opts.policy);
      const report = (r: StoredObject) => printResult(ctx.json(), r, () =>
        `${r.replaced ? 'replaced' : 'stored'} ${JSON.stringify(r.key)}: ${formatBytes(r.size)} in ${count(r.extents, 'extent')}, ${r.policy}, checksum ${r.checksum}`);
      const daemon = ctx.daemon();
      if (daemon) {
        const { stream, size } = file === '-' ? { stream: process.stdin, size: null } : await openInput(file);
        // Counted on the way to the daemon, for the progress bar.
        const progress = ctx.progress(`put ${key}`, 'bytes');
        let sent = 0;
        const counted = stream.pipe(new Transform({
          transform(chunk: Buffer, _encoding, done) {
            progress.update((sent += chunk.length), size);
            done(null, chunk);
          },
        }));
        stream.on('error', (error) => counted.destroy(error));
        const interrupt = onInterrupt((signal) => interruptStream(counted, signal));
        try {
          report((await remotePut(daemon, counted, key, opts.policy, size)) as StoredObject);
        } finally {
          interrupt.dispose();
          progress.stop();
        }
        return;
      }
      return ctx.withEngine(async (engine) => {
        const input = file === '-' ? streamSource(process.stdin) : await fileSource(file);
        const interrupt = onInterrupt(() => {});
        const source = interruptible(input, () => interrupt.signal);
        const progress = ctx.progress(`put ${key}`, 'bytes');
        try {
          const r = await putObject(engine, source, key, { ...(policy ? { policy } : {}), onProgress: progress.update });
          progress.stop();
          const { objectId: _id, ...shape } = r;
          report(shape);
        } finally {
          interrupt.dispose();
          progress.stop();
        }
      });
    });

  program
    .command('get')
    .description('read an object to stdout or to a file (-o); every fragment is verified, nothing partial is left on failure')
    .argument('<key>', 'object key')
    .option('-o, --output <file>', 'write to this file (via a temporary name, renamed when complete)')
    .action(async (key: string, opts: { output?: string }) => {
      if (ctx.json() && !opts.output) throw new DfsError('DFS_ERR_CLI_USAGE', '--json prints a report on stdout, so the data needs -o FILE');
      const daemon = ctx.daemon();
      if (daemon) {
        const r = await remoteGet(daemon, key);
        if (!opts.output) {
          for await (const chunk of r.body) await writeStdout(chunk as Uint8Array);
          return;
        }
        const target = resolve(opts.output);
        await writeFileAtomically(target, r.body as AsyncIterable<Uint8Array>, () => {});
        printResult(ctx.json(), { key, size: r.size, checksum: r.checksum, output: target }, () => `wrote ${formatBytes(r.size)} to ${target}`);
        return;
      }
      return ctx.withEngine(async (engine) => {
        const object = lookupObject(engine, key);
        const progress = ctx.progress(`get ${key}`, 'bytes');
        try {
          if (opts.output) {
            const target = resolve(opts.output);
            await writeFileAtomically(target, readObject(engine, object), (n) => progress.update(n, object.size));
            progress.stop();
            printResult(ctx.json(), { key: object.key, size: object.size, checksum: object.checksum, output: target }, () => `wrote ${formatBytes(object.size)} to ${target}`);
          } else {
            // Each chunk's buffer is reused for a later extent: wait until stdout is done with it.
            for await (const chunk of readObject(engine, object)) await writeStdout(chunk);
          }
        } finally {
          progress.stop();
        }
      });
    });

  program
    .command('ls')
    .description('list objects, optionally under a key prefix')
    .option('--prefix <prefix>', 'only keys starting with this')
    .option('--limit <n>', 'at most this many', (v) => Number(v))
    .option('--after <key>', 'start after this key (pagination)')
    .action(async (opts: { prefix?: string; limit?: number; after?: string }) => {
      if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 1)) throw new DfsError('DFS_ERR_PARAM_INVALID', 'ls: limit must be a positive integer');
      const daemon = ctx.daemon();
      // Listed a page at a time and written as it goes: the CLI's memory does not grow with the pool.
      if (daemon) return streamListing(ctx.json(), remoteListing(daemon, opts));
      return ctx.withEngine((engine) => streamListing(ctx.json(), localListing(engine, opts)));
    });

  program
    .command('stat')
    .description('an object: size, policy, extents, checksum and extent states')
    .argument('<key>', 'object key')
    .action(async (key: string) => {
      const v = await ctx.op<NonNullable<ReturnType<typeof objectView>>>('stat', { key });
      if (v.extentStates.degraded || v.extentStates.unrecoverable) ctx.problemsRemain();
      printResult(ctx.json(), v, () => [
        `key      ${escapeControls(v.key)}`, `size     ${v.size} (${formatBytes(v.size)})`, `policy   ${v.policy}`, `extents  ${v.extents} (${v.extentStates.healthy} healthy, ${v.extentStates.degraded} degraded, ${v.extentStates.unrecoverable} unrecoverable)`,
        `checksum ${v.checksum}`, `created  ${v.createdAt}`,
        ...(v.packed ? [`packed   in pack ${v.packed.extent}, bytes ${v.packed.offset}..${v.packed.offset + v.packed.length} (a small object, stored with others)`] : []),
        '',
        table(['EXTENT', 'STATE', 'LAST VERIFIED', 'LAST REPAIR'], v.history.slice(0, STAT_EXTENTS_SHOWN).map((h) => [
          `${h.seq} (${h.extent.slice(0, 12)})`, h.state, h.verifiedAt ?? 'never',
          h.lastRepair ? `${h.lastRepair.time} fragment ${h.lastRepair.fragment ?? '-'} ${h.lastRepair.kind ?? h.lastRepair.result ?? ''} (${h.lastRepair.trigger}, event #${h.lastRepair.id})` : '-',
        ])),
        ...(v.history.length > STAT_EXTENTS_SHOWN ? [`... and ${v.history.length - STAT_EXTENTS_SHOWN} more extents (--json lists them all)`] : []),
      ].join('\n'));
    });

  program
    .command('rm')
    .description('delete an object')
    .argument('<key>', 'object key')
    .action(async (key: string) => {
      const r = await ctx.op<{ key: string; size: number }>('rm', { key });
      printResult(ctx.json(), r, () => `deleted ${JSON.stringify(r.key)} (${formatBytes(r.size)})`);
    });
}

/** Writes to stdout and waits until stdout is done with the bytes (their buffer is reused). */
type Listed = ReturnType<typeof objectSummary>;
const LIST_PAGE = 1000;

/** Pages of objects in key order from the pool itself. */
async function* localListing(engine: Engine, opts: { prefix?: string; limit?: number; after?: string }): AsyncGenerator<Listed[]> {
  let left = opts.limit ?? Infinity;
  let after = opts.after;
  while (left > 0) {
    const n = Math.min(LIST_PAGE, left);
    const rows = engine.catalog.listObjects({ ...(opts.prefix ? { prefix: opts.prefix } : {}), ...(after ? { after } : {}), limit: n });
    if (rows.length > 0) yield rows.map(objectSummary);
    if (rows.length < n) return;
    left -= rows.length;
    after = rows[rows.length - 1]!.key;
  }
}

/** The same through the daemon's listing, page by page (its continuation tokens). */
async function* remoteListing(daemon: Daemon, opts: { prefix?: string; limit?: number; after?: string }): AsyncGenerator<Listed[]> {
  let left = opts.limit ?? Infinity;
  let token: string | null = null;
  while (left > 0) {
    const n = Math.min(LIST_PAGE, left);
    const page = await remoteListPage(daemon, { ...(opts.prefix ? { prefix: opts.prefix } : {}), ...(token ? { token } : opts.after ? { after: opts.after } : {}), limit: n });
    if (page.objects.length > 0) yield page.objects as Listed[];
    left -= page.objects.length;
    if (!page.nextToken) return;
    token = page.nextToken;
  }
}

const LIST_COLUMNS: [string, number][] = [['SIZE', 10], ['POLICY', 13], ['EXTENTS', 7], ['CREATED', 24]];

/**
 * Writes a listing as it comes: `--json` as one document (`{"objects":[...]}`)
 * never held whole, the table with fixed columns so no row waits for the
 * widest. Output is written in blocks of about 64 KiB, each after the last
 * has been taken.
 */
async function streamListing(json: boolean, pages: AsyncIterable<Listed[]>): Promise<void> {
  let buffered = '';
  let rows = 0;
  const flush = async () => {
    if (buffered) await writeStdout(Buffer.from(buffered, 'utf8'));
    buffered = '';
  };
  if (json) buffered += '{"objects":[';
  for await (const page of pages) {
    for (const o of page) {
      if (json) buffered += `${rows > 0 ? ',' : ''}${JSON.stringify(o)}`;
      else {
        if (rows === 0) buffered += `${[...LIST_COLUMNS.map(([h, w]) => h.padEnd(w)), 'KEY'].join('  ')}\n`;
        const cells = [formatBytes(o.size), o.policy, String(o.extents), o.createdAt];
        buffered += `${[...cells.map((c, i) => escapeControls(c).padEnd(LIST_COLUMNS[i]![1])), escapeControls(o.key)].join('  ')}\n`;
      }
      rows++;
      if (buffered.length >= 65536) await flush();
    }
  }
  if (json) buffered += ']}\n';
  await flush();
}

function writeStdout(chunk: Uint8Array): Promise<void> {
  return new Promise<void>((done, fail) => process.stdout.write(chunk, (error) => (error ? fail(new DfsError('DFS_ERR_OUTPUT_WRITE', error.message)) : done())));
}

/** The input file of a put through the daemon, with the same checks as a local put, and its size when it is a regular file. */
async function openInput(path: string): Promise<{ stream: Readable; size: number | null }> {
  const source = await fileSource(path); // validates: exists, is a file
  await source.close();
  return { stream: createReadStream(path), size: source.sizeHint };
}

/** Writes chunks to a temporary file beside `target`, fsyncs and renames it; on failure nothing is left. */
async function writeFileAtomically(target: string, chunks: AsyncIterable<Uint8Array>, onProgress: (bytes: number) => void): Promise<void> {
  const outputError = (error: unknown) => new DfsError('DFS_ERR_OUTPUT_WRITE', `${target}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  const existing = await stat(target).catch(() => null);
  if (existing?.isDirectory()) throw new DfsError('DFS_ERR_OUTPUT_WRITE', `${target} is a directory (name a file inside it)`);
  const tmp = join(dirname(target), `.${basename(target)}.partial-${randomBytes(4).toString('hex')}`);
  let handle;
  try {
    handle = await open(tmp, 'wx', 0o644);
  } catch (error) {
    throw outputError(error);
  }
  let done = 0;
  try {
    for await (const chunk of chunks) {
      try {
        await handle.write(chunk);
      } catch (error) {
        throw outputError(error);
      }
      onProgress((done += chunk.length));
    }
    try {
      await handle.sync();
      await handle.close();
      handle = null;
      await rename(tmp, target);
    } catch (error) {
      throw outputError(error);
    }
  } catch (error) {
    await handle?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw error;
  }
}
