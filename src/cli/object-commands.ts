// Object commands: put, get, ls, stat, rm.
import type { Command } from 'commander';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DfsError } from '../errors.js';
import { formatBytes, parsePolicy } from '../pool/index.js';
import { deleteObject, fileSource, lookupObject, objectView, putObject, readObject, streamSource } from '../store/index.js';
import type { CliContext } from './context.js';
import { printResult, table } from './output.js';

export function registerObjectCommands(program: Command, ctx: CliContext): void {
  program
    .command('put')
    .description('store a file (or stdin with -) as an object')
    .argument('<file>', 'input file, or - for stdin')
    .option('--key <key>', 'object key (default: the file name)')
    .option('--policy <policy>', 'replication:N or ec:K+M (default: the pool default)')
    .action((file: string, opts: { key?: string; policy?: string }) => {
      const key = opts.key ?? (file === '-' ? undefined : basename(file));
      if (key === undefined) throw new DfsError('DFS_ERR_CLI_USAGE', 'reading stdin needs --key');
      const policy = opts.policy === undefined ? undefined : parsePolicy(opts.policy);
      return ctx.withEngine(async (engine) => {
        const source = file === '-' ? streamSource(process.stdin) : await fileSource(file);
        const progress = ctx.progress(`put ${key}`, 'bytes');
        try {
          const r = await putObject(engine, source, key, { ...(policy ? { policy } : {}), onProgress: progress.update });
          progress.stop();
          const { objectId: _id, replaced, ...shape } = r;
          printResult(ctx.json(), { ...shape, replaced }, () => `${replaced ? 'replaced' : 'stored'} ${JSON.stringify(r.key)}: ${formatBytes(r.size)} in ${r.extents} extents, ${r.policy}, checksum ${r.checksum}`);
        } finally {
          progress.stop();
        }
      });
    });

  program
    .command('get')
    .description('read an object to stdout or to a file (-o); every fragment is verified, nothing partial is left on failure')
    .argument('<key>', 'object key')
    .option('-o, --output <file>', 'write to this file (via a temporary name, renamed when complete)')
    .action((key: string, opts: { output?: string }) => {
      if (ctx.json() && !opts.output) throw new DfsError('DFS_ERR_CLI_USAGE', '--json prints a report on stdout, so the data needs -o FILE');
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
            for await (const chunk of readObject(engine, object)) {
              await new Promise<void>((done, fail) => process.stdout.write(chunk, (error) => (error ? fail(new DfsError('DFS_ERR_OUTPUT_WRITE', error.message)) : done())));
            }
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
    .action((opts: { prefix?: string; limit?: number; after?: string }) => ctx.withEngine((engine) => {
      if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 1)) throw new DfsError('DFS_ERR_CLI_USAGE', '--limit must be a positive integer');
      const rows = engine.catalog.listObjects({ ...(opts.prefix ? { prefix: opts.prefix } : {}), ...(opts.after ? { after: opts.after } : {}), ...(opts.limit ? { limit: opts.limit } : {}) });
      const objects = rows.map((o) => ({ key: o.key, size: o.size, policy: o.policy, extents: o.extents, checksum: o.checksum, createdAt: new Date(o.createdAt).toISOString() }));
      printResult(ctx.json(), { objects }, () => (objects.length ? table(['SIZE', 'POLICY', 'EXTENTS', 'CREATED', 'KEY'], objects.map((o) => [formatBytes(o.size), o.policy, o.extents, o.createdAt, o.key])) : ''));
    }));

  program
    .command('stat')
    .description('an object: size, policy, extents, checksum and extent states')
    .argument('<key>', 'object key')
    .action((key: string) => ctx.withEngine((engine) => {
      const v = objectView(engine, key);
      if (!v) throw new DfsError('DFS_ERR_OBJECT_NOT_FOUND', JSON.stringify(key));
      if (v.extentStates.degraded || v.extentStates.unrecoverable) ctx.problemsRemain();
      printResult(ctx.json(), v, () => [
        `key      ${v.key}`, `size     ${v.size} (${formatBytes(v.size)})`, `policy   ${v.policy}`, `extents  ${v.extents} (${v.extentStates.healthy} healthy, ${v.extentStates.degraded} degraded, ${v.extentStates.unrecoverable} unrecoverable)`,
        `checksum ${v.checksum}`, `created  ${v.createdAt}`,
      ].join('\n'));
    }));

  program
    .command('rm')
    .description('delete an object')
    .argument('<key>', 'object key')
    .action((key: string) => ctx.withEngine(async (engine) => {
      const r = await deleteObject(engine, key);
      printResult(ctx.json(), { key: r.key, deleted: true, size: r.size, extents: r.extents }, () => `deleted ${JSON.stringify(r.key)} (${formatBytes(r.size)})`);
    }));
}

/** Writes chunks to a temporary file beside `target`, fsyncs and renames it; on failure nothing is left. */
async function writeFileAtomically(target: string, chunks: AsyncIterable<Uint8Array>, onProgress: (bytes: number) => void): Promise<void> {
  const tmp = join(dirname(target), `.${basename(target)}.partial-${randomBytes(4).toString('hex')}`);
  let handle;
  try {
    handle = await open(tmp, 'wx', 0o644);
  } catch (error) {
    throw new DfsError('DFS_ERR_OUTPUT_WRITE', `${target}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  let done = 0;
  try {
    for await (const chunk of chunks) {
      try {
        await handle.write(chunk);
      } catch (error) {
        throw new DfsError('DFS_ERR_OUTPUT_WRITE', `${target}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
      }
      onProgress((done += chunk.length));
    }
    await handle.sync();
    await handle.close();
    handle = null;
    await rename(tmp, target);
  } catch (error) {
    await handle?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw error;
  }
}
