// serve / metrics-server: the daemon in the foreground (what a systemd unit runs).
import type { Command } from 'commander';
import { DfsError } from '../errors.js';
import { runDaemon } from '../server/index.js';
import type { CliContext } from './context.js';

export function registerDaemonCommands(program: Command, ctx: CliContext): void {
  for (const name of ['serve', 'metrics-server']) {
    program
      .command(name)
      .description(name === 'serve' ? 'run the daemon: HTTP API, /metrics, /health, worker pool' : 'an alias of serve, kept for the original command name')
      .option('--port <port>', 'TCP port (0 picks a free one)', '9090')
      .option('--bind <address>', 'address to listen on', '127.0.0.1')
      .action(async (opts: { port: string; bind: string }) => {
        await runDaemon(ctx.poolDir(), { port: parsePort(opts.port), bind: opts.bind, logLevel: ctx.logLevel('info') });
      });
  }
}

export function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new DfsError('DFS_ERR_CLI_USAGE', `--port ${text} is not a TCP port`);
  return port;
}
