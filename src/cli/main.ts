#!/usr/bin/env -S sh -c 'UV_THREADPOOL_SIZE=${UV_THREADPOOL_SIZE:-16} exec node --no-memory-reducer --initial-old-space-size=32 "$0" "$@"'
// The `dynamicfs` command. Each command group registers itself from its own
// file; this file owns global options, error reporting and exit codes.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { DfsError } from '../errors.js';
import { CliContext } from './context.js';
import { registerCompletionCommand } from './completion.js';
import { registerDaemonCommands } from './daemon-commands.js';
import { registerDiskCommands } from './disk-commands.js';
import { registerEventCommands } from './event-commands.js';
import { registerKernelCommands } from './kernels.js';
import { registerMaintenanceCommands } from './maintenance-commands.js';
import { registerObjectCommands } from './object-commands.js';
import { EXIT_FAILED, reportError } from './output.js';
import { registerPoolCommands } from './pool-commands.js';
import { registerScrubCommands } from './scrub-commands.js';
import { registerS3Commands } from './s3-commands.js';

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

// The #! line runs node with what a daemon needs (docs/OPERATIONS.md): V8's
// memory reducer off, V8's old generation sized from the start (no storm of
// full collections under a stream of large PUTs), and 16 threads in libuv's
// pool unless UV_THREADPOOL_SIZE says otherwise. Fragment I/O (open, writev,
// fdatasync, rename, a folder's fsync) runs on that pool; libuv's default of
// 4 lets only four fsyncs wait at once across every disk. libuv reads the
// variable when it starts the pool, which Node's module loader has done
// before any code here runs: it cannot be set from this file.

export async function main(argv: string[]): Promise<number> {
  const program = new Command('dynamicfs')
    .description('DynamicFS: data kept intact on a pool of ordinary disks')
    .version(version)
    .option('--pool <dir>', 'the pool folder (default: $DYNAMICFS_POOL)')
    .option('--json', 'print one JSON document on stdout and nothing else there')
    .option('--log-level <level>', 'JSON logs on stderr at this level (default: info for the daemon, none for other commands)')
    .exitOverride()
    .configureOutput({ writeErr: () => {} })
    // Each command's --help lists --pool, --json and --log-level too (set before the commands, which copy it).
    .configureHelp({ showGlobalOptions: true });
  const ctx = new CliContext(program);
  const json = () => ctx.json();
  registerKernelCommands(program, json);
  registerPoolCommands(program, ctx);
  registerDiskCommands(program, ctx);
  registerObjectCommands(program, ctx);
  registerMaintenanceCommands(program, ctx);
  registerScrubCommands(program, ctx);
  registerEventCommands(program, ctx);
  registerDaemonCommands(program, ctx);
  registerS3Commands(program, ctx);
  registerCompletionCommand(program);
  addExamples(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.help' && error.exitCode !== 0) {
        // No command at all: the usage, on stderr (stdout may be a pipe expecting data), and a failure.
        if (argv.includes('--json')) return reportError(true, new DfsError('DFS_ERR_CLI_USAGE', 'no command given (dynamicfs --help lists them)'));
        process.stderr.write(program.helpInformation());
        return EXIT_FAILED;
      }
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      const message = error.message.replace(/^error:\s*/i, '');
      return reportError(json() || argv.includes('--json'), new DfsError('DFS_ERR_CLI_USAGE', message));
    }
    return reportError(json() || argv.includes('--json'), error);
  }
}

const EXAMPLES: Record<string, string[]> = {
  init: ['dynamicfs init --pool /srv/pool --disk /mnt/d1 --disk /mnt/d2 --disk /mnt/d3 --disk /mnt/d4 --disk /mnt/d5 --disk /mnt/d6', 'dynamicfs init --pool ./pool --policy replication:3 --disk a --disk b --disk c'],
  put: ['dynamicfs put photo.raw --key photos/2026/photo.raw', 'tar c ~/docs | dynamicfs put - --key backups/docs.tar --policy replication:3', 'dynamicfs put settings.json --json'],
  get: ['dynamicfs get photos/2026/photo.raw -o photo.raw', 'dynamicfs get backups/docs.tar | tar x'],
  ls: ['dynamicfs ls --prefix photos/', 'dynamicfs ls --limit 100 --after photos/2026/0099.jpg --json'],
  scrub: ['dynamicfs scrub --repair', 'dynamicfs scrub --dry-run --json', 'dynamicfs scrub --intensity low --max-rate 50M', 'dynamicfs scrub --errors-only --repair'],
  'scrub-daemon': ['dynamicfs scrub-daemon status', 'dynamicfs scrub-daemon set-intensity --intensity medium --max-rate 100M', 'dynamicfs scrub-daemon pause'],
  'scrub-schedule': ['dynamicfs scrub-schedule', 'dynamicfs scrub-schedule --frequency nightly --window 01:00-05:00 --intensity low', 'dynamicfs scrub-schedule --frequency continuous --auto-repair true'],
  'remove-disk': ['dynamicfs remove-disk --disk /mnt/d3', 'dynamicfs remove-disk --disk disk-04120d78'],
  'change-policy': ['dynamicfs change-policy photos/2026/photo.raw --policy replication:3', 'dynamicfs change-policy --all --policy ec:4+2'],
  gc: ['dynamicfs gc --dry-run', 'dynamicfs gc --grace 0 --verbose'],
  serve: ['dynamicfs serve --pool /srv/pool --port 9090 --bind 127.0.0.1'],
};

function addExamples(program: Command): void {
  for (const command of program.commands) {
    const examples = EXAMPLES[command.name()];
    if (examples) command.addHelpText('after', `\nExamples:\n${examples.map((e) => `  $ ${e}`).join('\n')}\n`);
  }
}

// A reader that goes away (`dynamicfs ls | head`) ends the command quietly, as for any Unix tool.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

process.exitCode = await main(process.argv.slice(2)).catch((error: unknown) => {
  reportError(process.argv.includes('--json'), error);
  return EXIT_FAILED;
});
