// Writes a suite's figures into docs/RELIABILITY.md between its markers, so
// the document shows the last run's numbers as the suite produced them.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DOC = fileURLToPath(new URL('../../../docs/RELIABILITY.md', import.meta.url));

export function writeFigures(suite: string, markdown: string): void {
  const begin = `<!-- ${suite}:begin -->`;
  const end = `<!-- ${suite}:end -->`;
  const doc = readFileSync(DOC, 'utf8');
  const from = doc.indexOf(begin);
  const to = doc.indexOf(end);
  if (from < 0 || to < from) throw new Error(`docs/RELIABILITY.md has no ${begin} … ${end} block`);
  writeFileSync(DOC, `${doc.slice(0, from + begin.length)}\n${markdown.trim()}\n${doc.slice(to)}`);
}

export function table(rows: (string | number)[][]): string {
  const [head, ...body] = rows.map((r) => r.map(String));
  return [`| ${head!.join(' | ')} |`, `|${head!.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}
