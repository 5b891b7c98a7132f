// Logs: pino JSON lines on stderr. Child loggers per component (`store`,
// `scrub`, `workers`, `http`); the authorization header and the token never
// reach a log line, nor do object contents (bodies are never logged).
import { AsyncLocalStorage } from 'node:async_hooks';
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

// The logger of the work in progress: an HTTP request's (with its reqId)
// while that request's work runs, else the process's root logger. Engine code
// asks for log('store') and so carries the request id into the work a request
// starts, without passing loggers through every call.
const current = new AsyncLocalStorage<Logger>();
let root: Logger = pino({ level: 'silent' });

export function setRootLogger(logger: Logger): void {
  root = logger;
}

/** Makes `logger` the current one for the rest of this async flow (an HTTP request's). */
export function enterLogContext(logger: Logger): void {
  current.enterWith(logger);
}

/** Children made so far, per parent logger and component: a child costs a bindings copy, made once. */
const children = new WeakMap<Logger, Map<string, Logger>>();

/** A child of the current logger for a component (`store`, `scrub`, `workers`, `http`). */
export function log(component: string): Logger {
  const parent = current.getStore() ?? root;
  let made = children.get(parent);
  if (!made) children.set(parent, (made = new Map()));
  let child = made.get(component);
  if (!child) made.set(component, (child = parent.child({ component })));
  return child;
}
