#!/usr/bin/env node
// npm start: the embedded default pool under ./.dynamicfs/ (six directory
// disks, ec:4+2), created on first run, then its status and commands to try.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const home = join(process.cwd(), '.dynamicfs');
const pool = join(home, 'pool');
const bin = join(root, 'build', 'src', 'cli', 'main.js');
const run = (...args) => spawnSync(process.execPath, [bin, '--pool', pool, ...args], { stdio: 'inherit' }).status;

if (!existsSync(join(pool, 'pool.json'))) {
  const disks = Array.from({ length: 6 }, (_, i) => join(home, 'disks', `d${i + 1}`));
  for (const d of disks) mkdirSync(d, { recursive: true });
  console.log(`creating the embedded pool in ${relative(process.cwd(), home) || '.'} (6 directory disks, ec:4+2)\n`);
  if (run('init', '--policy', 'ec:4+2', ...disks.flatMap((d) => ['--disk', d])) !== 0) process.exit(1);
  console.log('');
}
if (run('status') !== 0) process.exit(1);
const rel = relative(process.cwd(), pool) || pool;
console.log(`
Try:
  export DYNAMICFS_POOL=${rel}
  node build/src/cli/main.js put package.json --key hello.json
  node build/src/cli/main.js get hello.json
  node build/src/cli/main.js list-extents --key hello.json
  node build/src/cli/main.js fail-disk --disk ${join(rel, '..', 'disks', 'd2')} && node build/src/cli/main.js get hello.json
  node build/src/cli/main.js rebuild; node build/src/cli/main.js health
`);
