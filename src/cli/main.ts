#!/usr/bin/env node
// The `dynamicfs` command. Each command group registers itself from its own
// file; this file owns global options, error reporting and exit codes.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { DfsError } from '../errors.js';
import { registerKernelCommands } from './kernels.js';
import { EXIT_FAILED, EXIT_OK, reportError } from './output.js';

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

export async function main(argv: string[]): Promise<number> {
  const program = new Command('dynamicfs')
    .description('DynamicFS: data kept intact on a pool of ordinary disks')
    .version(version)
    .option('--json', 'print one JSON document on stdout and nothing else there')
    .option('--log-level <level>', 'log level for JSON logs on stderr', 'info')
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  const json = () => Boolean(program.opts().json);
  registerKernelCommands(program, json);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return EXIT_OK;
      const message = error.message.replace(/^error:\s*/i, '');
      return reportError(json() || argv.includes('--json'), new DfsError('DFS_ERR_CLI_USAGE', message));
    }
    return reportError(json(), error);
  }
}

process.exitCode = await main(process.argv.slice(2)).catch((error: unknown) => {
  reportError(process.argv.includes('--json'), error);
  return EXIT_FAILED;
});
