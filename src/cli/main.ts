#!/usr/bin/env node
// The `dynamicfs` command. Each command group registers itself from its own
// file; this file owns global options, error reporting and exit codes.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { DfsError } from '../errors.js';
import { CliContext } from './context.js';
import { registerDaemonCommands } from './daemon-commands.js';
import { registerDiskCommands } from './disk-commands.js';
import { registerKernelCommands } from './kernels.js';
import { registerMaintenanceCommands } from './maintenance-commands.js';
import { registerObjectCommands } from './object-commands.js';
import { EXIT_FAILED, reportError } from './output.js';
import { registerPoolCommands } from './pool-commands.js';
import { registerScrubCommands } from './scrub-commands.js';

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

// Fragment writes run on libuv's thread pool (open, writev, fdatasync,
// rename): its default of 4 threads would serialise an extent's six fsyncs.
process.env.UV_THREADPOOL_SIZE ??= '16';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('dynamicfs')
    .description('DynamicFS: data kept intact on a pool of ordinary disks')
    .version(version)
    .option('--pool <dir>', 'the pool folder (default: $DYNAMICFS_POOL)')
    .option('--json', 'print one JSON document on stdout and nothing else there')
    .option('--log-level <level>', 'JSON logs on stderr at this level (default: info for the daemon, none for other commands)')
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  const ctx = new CliContext(program);
  const json = () => ctx.json();
  registerKernelCommands(program, json);
  registerPoolCommands(program, ctx);
  registerDiskCommands(program, ctx);
  registerObjectCommands(program, ctx);
  registerMaintenanceCommands(program, ctx);
  registerScrubCommands(program, ctx);
  registerDaemonCommands(program, ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      const message = error.message.replace(/^error:\s*/i, '');
      return reportError(json() || argv.includes('--json'), new DfsError('DFS_ERR_CLI_USAGE', message));
    }
    return reportError(json() || argv.includes('--json'), error);
  }
}

process.exitCode = await main(process.argv.slice(2)).catch((error: unknown) => {
  reportError(process.argv.includes('--json'), error);
  return EXIT_FAILED;
});
