// The kernels' numeric status codes are written twice, in AssemblyScript
// (assembly/status.ts) and in TypeScript (src/kernels/status.ts): this keeps
// the two equal, code by code, and the limits too.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KERNEL_OK, MAX_K, MAX_M, STATUS_CODES } from '../../src/kernels/status.js';

const source = readFileSync(fileURLToPath(new URL('../../../assembly/status.ts', import.meta.url)), 'utf8');
const constants = new Map([...source.matchAll(/^export const (\w+): i32 = (\d+);$/gm)].map((m) => [m[1]!, Number(m[2])]));

test('every ERR_* of assembly/status.ts maps to DFS_ERR_KERNEL_<same name>, and nothing else is mapped', () => {
  const errors = [...constants].filter(([name]) => name.startsWith('ERR_'));
  assert.ok(errors.length >= 6, `found ${errors.length} ERR_ constants: the pattern no longer matches the file`);
  for (const [name, value] of errors) assert.is(STATUS_CODES[value], `DFS_ERR_KERNEL_${name.slice(4)}`, `${name} = ${value}`);
  assert.is(Object.keys(STATUS_CODES).length, errors.length, 'a TypeScript code the kernels never return');
});

test('OK and the code limits agree', () => {
  assert.is(constants.get('OK'), KERNEL_OK);
  assert.is(constants.get('MAX_K'), MAX_K);
  assert.is(constants.get('MAX_M'), MAX_M);
});

test.run();
