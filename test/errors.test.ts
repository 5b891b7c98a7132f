// The error registry and docs/ERRORS.md list the same codes with the same statuses.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DfsError, ERRORS, deserializeError, serializeError } from '../src/errors.js';

const doc = readFileSync(fileURLToPath(new URL('../../docs/ERRORS.md', import.meta.url)), 'utf8');

test('every registered code is documented with its HTTP status, and nothing else is', () => {
  const documented = new Map<string, number>();
  for (const match of doc.matchAll(/^\|\s*`(DFS_ERR_[A-Z0-9_]+)`\s*\|\s*(\d{3})\s*\|/gm)) documented.set(match[1]!, Number(match[2]));
  for (const [code, spec] of Object.entries(ERRORS)) {
    assert.ok(documented.has(code), `${code} is missing from docs/ERRORS.md`);
    assert.is(documented.get(code), spec.httpStatus, `${code} status`);
  }
  for (const code of documented.keys()) assert.ok(code in ERRORS, `docs/ERRORS.md lists unknown ${code}`);
});

test('codes follow DFS_ERR_<DOMAIN>_<CONDITION>', () => {
  for (const code of Object.keys(ERRORS)) assert.match(code, /^DFS_ERR_[A-Z0-9]+_[A-Z0-9_]+$/);
});

test('an error survives serialization with its code and message', () => {
  const original = new DfsError('DFS_ERR_KERNEL_K_RANGE', 'got 40');
  assert.is(original.message, 'K (data fragments) must be an integer from 1 to 32: got 40');
  const back = deserializeError(JSON.parse(JSON.stringify(serializeError(original))));
  assert.is(back.code, 'DFS_ERR_KERNEL_K_RANGE');
  assert.is(back.message, original.message);
  assert.is(back.httpStatus, 400);
  assert.is(serializeError(new TypeError('boom')).code, 'DFS_ERR_INTERNAL_UNEXPECTED');
});

test.run();
