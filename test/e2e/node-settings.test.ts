// What the `dynamicfs` command's #! line gives node: V8's flags (the memory
// reducer off, the old generation sized from the start) and the fragment I/O
// threads, libuv's pool, sized by UV_THREADPOOL_SIZE when the process starts:
// 16 unless the variable is set. A daemon started as `node main.js` without
// it runs on libuv's default 4, and says so in its log.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { BIN, COMMAND_NODE_FLAGS, makePool, type TestPool } from '../helpers/cli.js';
import { startDaemon, waitFor, type RunningDaemon } from '../helpers/daemon.js';

let pool: TestPool;

test.before(() => {
  pool = makePool({ disks: 6 });
});

test.after(() => {
  pool.cleanup();
});

/**
 * Starts the daemon as `launch` (the command itself, or plain `node main.js`),
 * with UV_THREADPOOL_SIZE out of the environment unless given, and waits for
 * its `listening` log line (written just after daemon.json).
 */
async function start(launch: string[], size?: string): Promise<RunningDaemon> {
  const d = await startDaemon(pool.pool, ['serve', '--no-s3', '--log-level', 'info'], { UV_THREADPOOL_SIZE: size }, launch);
  await waitFor('the listening log line', () => (d.stderr().includes('dynamicfs daemon listening') ? true : null));
  return d;
}

/**
 * The daemon's `listening` log line, and whether it warned about its I/O
 * threads (written just after it, maybe a moment later: the log is written
 * asynchronously, so a warning expected is waited for).
 */
async function startLog(d: RunningDaemon, expectWarning: boolean): Promise<{ ioThreads: number; warned: boolean }> {
  if (expectWarning) await waitFor('the warning', () => (d.stderr().includes('DFS_WARN_IO_THREADS') ? true : null), 5000).catch(() => {});
  const lines = d.stderr().trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const listening = lines.find((l) => l.msg === 'dynamicfs daemon listening');
  assert.ok(listening, d.stderr());
  return { ioThreads: listening!.ioThreads as number, warned: lines.some((l) => l.code === 'DFS_WARN_IO_THREADS') };
}

/**
 * Threads of the process when it has just started: libuv's whole pool is up
 * (the module loader started it). Other pools may add a thread now and then
 * (the kernel workers grow under load), so counts are compared with a margin.
 */
function threads(d: RunningDaemon): number {
  return readdirSync(`/proc/${d.pid}/task`).length;
}

/** UV_THREADPOOL_SIZE in the environment node was started with, which libuv reads when it starts its pool. */
function poolSizeVariable(d: RunningDaemon): string | undefined {
  const entry = readFileSync(`/proc/${d.pid}/environ`, 'utf8').split('\0').find((e) => e.startsWith('UV_THREADPOOL_SIZE='));
  return entry?.slice('UV_THREADPOOL_SIZE='.length);
}

test('the dynamicfs command runs the daemon with its node flags and 16 I/O threads; `node main.js` without UV_THREADPOOL_SIZE runs it with 4 and warns; a value set is kept', async () => {
  // As the command: the #! line (env, sh, then node, one process: daemon.json names it).
  const asCommand = await start([BIN]);
  let commandThreads: number;
  try {
    assert.equal(await startLog(asCommand, false), { ioThreads: 16, warned: false });
    assert.is(poolSizeVariable(asCommand), '16');
    // The tests' daemons (helpers/daemon.ts) run with the same flags as the command's.
    const argv = readFileSync(`/proc/${asCommand.pid}/cmdline`, 'utf8').split('\0');
    assert.equal(argv.slice(1, 1 + COMMAND_NODE_FLAGS.length), COMMAND_NODE_FLAGS, argv.join(' '));
    commandThreads = threads(asCommand);
    // The daemon works, run so: a put through it.
    const put = pool.runWith({ input: Buffer.alloc(3 * 1024 * 1024, 7) }, 'put', '-', '--key', 'a');
    assert.is(put.code, 0, put.stderr);
  } finally {
    await asCommand.stop();
  }
  // As plain `node main.js serve`, nothing in the environment: libuv's default, and a warning.
  const plain = await start([process.execPath, BIN]);
  let plainThreads: number;
  try {
    assert.equal(await startLog(plain, true), { ioThreads: 4, warned: true });
    assert.is(poolSizeVariable(plain), undefined);
    plainThreads = threads(plain);
  } finally {
    await plain.stop();
  }
  // Twelve threads more are libuv's (16 against 4); the rest of the process is the same, give or take a worker.
  assert.ok(commandThreads - plainThreads >= 10, `threads: ${commandThreads} as the command, ${plainThreads} as node main.js`);
  // A value in the environment wins over the #! line's default.
  const six = await start([BIN], '6');
  try {
    assert.equal(await startLog(six, false), { ioThreads: 6, warned: false });
    assert.is(poolSizeVariable(six), '6');
    assert.ok(commandThreads - threads(six) >= 8, `threads: ${commandThreads} with 16, ${threads(six)} with 6`);
  } finally {
    await six.stop();
  }
});

test('ioThreadCount reads UV_THREADPOOL_SIZE as libuv does', async () => {
  const { ioThreadCount } = await import('../../src/server/daemon.js');
  assert.is(ioThreadCount(undefined), 4);
  assert.is(ioThreadCount('16'), 16);
  assert.is(ioThreadCount('0'), 1);
  assert.is(ioThreadCount('abc'), 1);
  assert.is(ioThreadCount('5000'), 1024);
});

test.run();
