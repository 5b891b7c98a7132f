// How every command reports: one JSON document on stdout with --json, a
// one-line "error: <message> (<code>)" on stderr otherwise, and the exit codes
// every command shares (0 ok, 1 failed, 3 problems remain).
import { DfsError, serializeError } from '../errors.js';

export const EXIT_FAILED = 1;

export function toJson(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString(16).padStart(16, '0') : v));
}

export function printResult(json: boolean, value: unknown, human: () => string): void {
  if (json) process.stdout.write(`${toJson(value)}\n`);
  else {
    const text = human();
    if (text) process.stdout.write(`${text}\n`);
  }
}

export function reportError(json: boolean, error: unknown): number {
  const { code, message } = error instanceof DfsError ? error : serializeError(error);
  if (json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
  process.stderr.write(`error: ${message.replace(/\s*\n\s*/g, ' ')} (${code})\n`);
  return EXIT_FAILED;
}

/**
 * Control characters (ESC, CR, LF, tabs, DEL, C1) as visible escapes: a key
 * or path can hold any of them, and raw they would move the cursor, recolour
 * or rewrite the terminal, or break the table into lines.
 */
export function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    return named[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

/** A plain text table: columns padded to their widest cell; control characters escaped. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => escapeControls(String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}
