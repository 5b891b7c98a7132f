// The shape of src/: each folder is a domain; domains import each other in
// one direction only (no cycle), and only through the other domain's
// index.ts, so a domain's internals can move without its users noticing.
// Single files at the top (errors.ts, index.ts) are domains of their own.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

function domainOf(path: string): string {
  const parts = relative(SRC, path).split('/');
  return parts.length > 1 ? parts[0]! : parts[0]!.replace(/\.ts$/, '');
}

interface Import {
  from: string;
  target: string;
}

function crossDomainImports(): Import[] {
  const out: Import[] = [];
  for (const file of sources(SRC)) {
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
      const target = resolve(dirname(file), m[1]!).replace(/\.js$/, '.ts');
      if (domainOf(file) !== domainOf(target)) out.push({ from: file, target });
    }
  }
  return out;
}

/** Every cycle's path, found by a depth-first search that tracks the path it is on. */
function cycles(edges: Map<string, Set<string>>): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const visit = (node: string, path: string[]) => {
    const at = path.indexOf(node);
    if (at >= 0) {
      found.push([...path.slice(at), node]);
      return;
    }
    if (done.has(node)) return;
    for (const next of edges.get(node) ?? []) visit(next, [...path, node]);
    done.add(node);
  };
  for (const node of edges.keys()) visit(node, []);
  return found;
}

test('the domains under src/ import each other without a cycle', () => {
  const edges = new Map<string, Set<string>>();
  for (const { from, target } of crossDomainImports()) {
    const a = domainOf(from);
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a)!.add(domainOf(target));
  }
  assert.ok(edges.size >= 10, `only ${edges.size} domains found: the scan no longer sees src/`);
  assert.equal(cycles(edges).map((c) => c.join(' -> ')), []);
});

test('an import from another domain goes through its index.ts', () => {
  const past = crossDomainImports()
    .filter(({ target }) => relative(SRC, target).includes('/') && !target.endsWith('/index.ts'))
    .map(({ from, target }) => `${relative(SRC, from)} imports ${relative(SRC, target)}`);
  assert.equal(past, []);
});

test('the cycle check can fail', () => {
  const edges = new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])], ['d', new Set(['a'])]]);
  assert.equal(cycles(edges).map((c) => c.join(' -> ')), ['a -> b -> c -> a']);
});

test.run();
