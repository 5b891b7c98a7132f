// serve / metrics-server: the daemon in the foreground (what a systemd unit runs).
import type { Command } from 'commander';
import { DfsError } from '../errors.js';
import type { CliContext } from './context.js';

export function registerDaemonCommands(program: Command, ctx: CliContext): void {
  for (const name of ['serve', 'metrics-server']) {
    program
      .command(name)
      .description(name === 'serve' ? 'run the daemon: HTTP API, /metrics, /health, worker pool' : 'an alias of serve, kept for the original command name')
      .option('--port <port>', 'TCP port (0 picks a free one)', '9090')
      .option('--bind <address>', 'address to listen on (the control API and S3)', '127.0.0.1')
      .option('--s3-port <port>', 'TCP port of the S3 endpoint, on the same address (0 picks a free one)', '9000')
      .option('--no-s3', 'no S3 endpoint')
      .action(async (opts: { port: string; bind: string; s3Port: string; s3: boolean }) => {
        // The server (fastify and its plugins) loads only for the commands that run it: every other command starts faster.
        const { runDaemon } = await import('../server/index.js');
        await runDaemon(ctx.poolDir(), { port: parsePort(opts.port), bind: opts.bind, logLevel: ctx.logLevel('info'), s3Port: s3PortOf(opts) });
      });
  }
}

export function parsePort(text: string, flag = '--port'): number {
  const port = Number(text);
  if (text.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535) throw new DfsError('DFS_ERR_CLI_USAGE', `${flag} ${text} is not a TCP port`);
  return port;
}

/** The S3 port of --s3-port / --no-s3 (null: no S3 endpoint). */
export function s3PortOf(opts: { s3Port: string; s3: boolean }): number | null {
  return opts.s3 ? parsePort(opts.s3Port, '--s3-port') : null;
}
