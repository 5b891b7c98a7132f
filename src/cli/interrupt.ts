// Ctrl-C (SIGINT) or SIGTERM during a command that writes: the command is
// told to stop (its input ends in an error), cleans up what it wrote, and
// reports; a second signal exits at once. Without this the default handler
// killed the process mid-put and left fragment and temporary files behind.
import type { Readable } from 'node:stream';
import { DfsError } from '../errors.js';
import type { ExtentSource } from '../store/index.js';

export interface Interrupt {
  /** The signal that came, or null. */
  readonly signal: NodeJS.Signals | null;
  /** Stops listening (the command is over). */
  dispose(): void;
}

/** Listens for SIGINT and SIGTERM until disposed; `onSignal` runs once, on the first. */
export function onInterrupt(onSignal: (signal: NodeJS.Signals) => void): Interrupt {
  const state: { signal: NodeJS.Signals | null } = { signal: null };
  const handler = (signal: NodeJS.Signals) => {
    if (state.signal) process.exit(signal === 'SIGINT' ? 130 : 143); // a second signal: no more waiting
    state.signal = signal;
    process.stderr.write(`\n${signal}: stopping and removing what was written (again to quit at once)\n`);
    onSignal(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    get signal() {
      return state.signal;
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

export function interrupted(signal: NodeJS.Signals): DfsError {
  return new DfsError('DFS_ERR_CLI_INTERRUPTED', `stopped by ${signal}; nothing was stored and what was written is removed`);
}

/** A source whose next fill fails once `interrupt` has seen a signal. */
export function interruptible(source: ExtentSource, interrupt: () => NodeJS.Signals | null): ExtentSource {
  return {
    get sizeHint() {
      return source.sizeHint;
    },
    fill(into) {
      const signal = interrupt();
      return signal ? Promise.reject(interrupted(signal)) : source.fill(into);
    },
    close: () => source.close(),
  };
}

/** Ends a stream in the interrupted error (a put through the daemon: the daemon then drops the upload). */
export function interruptStream(stream: Readable, signal: NodeJS.Signals): void {
  stream.destroy(interrupted(signal));
}
