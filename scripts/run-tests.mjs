#!/usr/bin/env node
// Runs the uvu suites compiled under build/test and ends with one plain line,
// "N passed, M failed", that CI reads. Exit code is uvu's (non-zero on any
// failure, or if uvu died before printing its totals).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const uvu = join(dirname(require.resolve('uvu')), '..', 'bin.js');
const pattern = process.argv[2] ?? '\\.test\\.js$';

const child = spawn(process.execPath, [uvu, 'build/test', pattern], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
let output = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  output += chunk.toString();
});
child.on('close', (code, signal) => {
  const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
  const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  let exitCode = code ?? 1;
  if (Number.isNaN(total) || Number.isNaN(passed)) {
    console.log(`\nthe test run ended before uvu printed its totals (exit ${code}${signal ? `, ${signal}` : ''})`);
    console.log('0 passed, 1 failed');
    process.exit(exitCode || 1);
  }
  const failed = total - passed - skipped;
  if (failed > 0 && exitCode === 0) exitCode = 1;
  console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(exitCode);
});
