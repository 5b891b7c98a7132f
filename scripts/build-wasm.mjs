#!/usr/bin/env node
// Compiles assembly/ into one .wasm per kernel variant (asconfig.json targets),
// each also with a shared memory (the read slots of src/kernels/read-slots.ts).
// Runs from `npm install` (prepare) so a fresh clone needs no extra step.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const asc = join(dirname(require.resolve('assemblyscript/package.json')), 'bin', 'asc.js');
const targets = process.argv.slice(2).length ? process.argv.slice(2) : ['scalar', 'simd', 'relaxed', 'scalar-shared', 'simd-shared', 'relaxed-shared', 'debug'];

mkdirSync(join(root, 'build', 'wasm'), { recursive: true });
for (const target of targets) {
  const result = spawnSync(process.execPath, [asc, 'assembly/index.ts', '--config', 'asconfig.json', '--target', target], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    console.error(`build-wasm: asc failed for target "${target}"`);
    process.exit(result.status ?? 1);
  }
}
console.log(`build-wasm: built ${targets.join(', ')}`);
