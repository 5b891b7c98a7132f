// Every command shown in the README and the scrubbing guide runs as written.
// The `$ ` lines of their ```sh blocks are run in order, in one bash session,
// in an empty folder with `dynamicfs` on PATH; each must exit 0, or the code
// its trailing `# exit N` comment names. Port 9090 is swapped for a free one
// (the machine's own services may hold it). Nothing may print a stack trace.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN, COMMAND_NODE_FLAGS, tempDir } from '../helpers/cli.js';
import { freePort } from '../helpers/daemon.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface DocCommand {
  line: number;
  command: string;
  exit: number;
}

/** The `$ ` lines of the ```sh blocks of a Markdown file. */
export function docCommands(markdown: string): DocCommand[] {
  const out: DocCommand[] = [];
  let inSh = false;
  markdown.split('\n').forEach((text, i) => {
    if (/^```sh\s*$/.test(text)) inSh = true;
    else if (/^```/.test(text)) inSh = false;
    else if (inSh && text.startsWith('$ ')) {
      const command = text.slice(2);
      out.push({ line: i + 1, command, exit: Number(/#\s*exit (\d+)\s*$/.exec(command)?.[1] ?? 0) });
    }
  });
  return out;
}

async function runDoc(file: string): Promise<{ ran: number; output: string }> {
  const commands = docCommands(readFileSync(join(ROOT, file), 'utf8'));
  const dir = tempDir('dfs-docs-');
  const bin = join(dir, '.bin');
  mkdirSync(bin);
  // As the command's own #! line runs node (this node, not the first on PATH).
  writeFileSync(join(bin, 'dynamicfs'), `#!/bin/sh\nUV_THREADPOOL_SIZE=\${UV_THREADPOOL_SIZE:-16} exec "${process.execPath}" ${COMMAND_NODE_FLAGS.join(' ')} "${BIN}" "$@"\n`);
  chmodSync(join(bin, 'dynamicfs'), 0o755);
  const work = join(dir, 'work');
  mkdirSync(work);
  const port = String(await freePort());
  const steps = commands.map((c, i) => [
    `echo "::: ${file}:${c.line}" >&2`,
    c.command.replace(/\b9090\b/g, port),
    `rc=$?; if [ $rc -ne ${c.exit} ]; then echo "${file}:${c.line}: exit $rc, wanted ${c.exit} (step ${i + 1})" >&2; kill $(jobs -p) 2>/dev/null; wait; exit 90; fi`,
  ].join('\n'));
  const script = [`cd "${work}"`, `export PATH="${bin}:$PATH"`, 'unset DYNAMICFS_POOL', ...steps, 'kill $(jobs -p) 2>/dev/null; wait', 'exit 0'].join('\n');
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', timeout: 240_000 });
  rmSync(dir, { recursive: true, force: true });
  const output = `${r.stdout}\n${r.stderr}`;
  assert.is(r.status, 0, `${file}: ${r.error?.message ?? ''}\n${output.slice(-4000)}`);
  assert.not.match(output, /\n\s+at .+:\d+:\d+\)?\n/, `${file}: a stack trace was printed:\n${output.slice(-4000)}`);
  return { ran: commands.length, output };
}

test('docCommands finds the commands and their expected exit codes', () => {
  const found = docCommands('text\n```sh\n$ a --x\n$ b   # exit 3\nout\n```\n$ not-in-a-block\n```js\n$ no\n```\n');
  assert.equal(found.map((c) => [c.command, c.exit]), [['a --x', 0], ['b   # exit 3', 3]]);
});

test('every command of docs/SCRUBBING_GUIDE.md runs as written', async () => {
  const { ran, output } = await runDoc('docs/SCRUBBING_GUIDE.md');
  assert.ok(ran >= 30, `only ${ran} commands`);
  assert.match(output, /checksum_mismatch/); // the damaged fragment was found
});

test('every command of README.md runs as written', async () => {
  const { ran } = await runDoc('README.md');
  assert.ok(ran >= 15, `only ${ran} commands`);
});

test.run();
