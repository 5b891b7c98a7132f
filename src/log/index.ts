// Logs: pino JSON lines on stderr. Child loggers per component (`store`,
// `scrub`, `workers`, `http`); the authorization header and the token never
// reach a log line, nor do object contents (bodies are never logged).
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { DfsError } from '../errors.js';

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function createLogger(level: string = 'info', destination: NodeJS.WritableStream | number = 2): Logger {
  if (!LOG_LEVELS.includes(level as LevelWithSilent)) {
    throw new DfsError('DFS_ERR_CONFIG_INVALID', `log level "${level}" (use ${LOG_LEVELS.join(', ')})`);
  }
  return pino(
    {
      level,
      base: { pid: process.pid, service: 'dynamicfs' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['req.headers.authorization', 'headers.authorization', 'token'], censor: '[redacted]' },
    },
    typeof destination === 'number' ? pino.destination({ fd: destination, sync: false }) : destination,
  );
}
