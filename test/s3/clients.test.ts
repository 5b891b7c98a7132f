// The S3 endpoint with clients no one here wrote: rclone (sync and check),
// restic (init, backup, check --read-data, restore), the AWS CLI (the
// examples of docs/S3.md, as written there), and a FUSE mount with
// s3fs where /dev/fuse is usable. Also: data written through S3 keeps the
// pool's guarantees, since damage is found and repaired and GETs stay exact.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, constants } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join, relative } from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { makePool, type TestPool } from '../helpers/cli.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { s3Client, type S3Key } from '../helpers/s3.js';

let pool: TestPool;
let daemon: RunningDaemon;
let key: S3Key;
let s3: S3Client;
let home: string;

/** The environment of an outside client: its own HOME, our key, and nothing that points it elsewhere. */
function clientEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, AWS_ACCESS_KEY_ID: key.accessKeyId, AWS_SECRET_ACCESS_KEY: key.secretAccessKey, ...extra };
  return env;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): SpawnSyncReturns<string> {
  const r = spawnSync(command, args, { env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    const packages: Record<string, string> = { s3fs: 's3fs fuse3', aws: 'awscli' };
    throw new Error(`${command} is not installed: .ci/run installs it (apt-get install ${packages[command] ?? command})`);
  }
  return r;
}

function treeFiles(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

/** A tree of `files` small files (0 B to 40 KiB) in nested folders. */
function makeTree(dir: string, files: number): void {
  for (let i = 0; i < files; i++) {
    const sub = join(dir, `level-${i % 4}`, `inner-${i % 7}`, i % 3 === 0 ? 'deeper' : '');
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `file ${i}.dat`), randomBytes((i * 7919) % 40_000));
  }
}

test.before(async () => {
  pool = makePool({ disks: 6 });
  home = join(pool.root, 'home');
  mkdirSync(home);
  key = pool.run('s3-key', 'create', '--name', 'outside-clients', '--json').json as S3Key;
  daemon = await startDaemon(pool.pool, ['serve', '--log-level', 'warn']);
  s3 = s3Client(daemon.s3Url!, key);
});
test.after(async () => {
  s3?.destroy();
  await daemon?.stop();
  pool?.cleanup();
});

test('rclone: sync a tree of small files and nested folders, then check finds no differences', () => {
  const tree = join(pool.root, 'rclone-tree');
  makeTree(tree, 300);
  const env = clientEnv({
    RCLONE_CONFIG_DFS_TYPE: 's3', RCLONE_CONFIG_DFS_PROVIDER: 'Other', RCLONE_CONFIG_DFS_ACCESS_KEY_ID: key.accessKeyId,
    RCLONE_CONFIG_DFS_SECRET_ACCESS_KEY: key.secretAccessKey, RCLONE_CONFIG_DFS_ENDPOINT: daemon.s3Url!, RCLONE_CONFIG_DFS_REGION: 'us-east-1',
  });
  const sync = run('rclone', ['--config', join(home, 'rclone.conf'), 'sync', tree, 'dfs:rclone-sync/tree', '--transfers', '8'], env);
  assert.is(sync.status, 0, sync.stderr);
  const check = run('rclone', ['--config', join(home, 'rclone.conf'), 'check', tree, 'dfs:rclone-sync/tree'], env);
  assert.is(check.status, 0, check.stderr);
  assert.match(check.stderr, '0 differences found');
  assert.match(check.stderr, '300 matching files');
  // A change on one side is seen, so the check is not vacuous.
  writeFileSync(join(tree, 'level-0', 'inner-0', 'file 0.dat'), 'changed');
  const again = run('rclone', ['--config', join(home, 'rclone.conf'), 'check', tree, 'dfs:rclone-sync/tree'], env);
  assert.is.not(again.status, 0);
  assert.match(again.stderr, '1 differences found');
});

test('restic: init, backup, check --read-data and restore give the tree back identical', () => {
  const tree = join(pool.root, 'restic-tree');
  makeTree(tree, 200);
  writeFileSync(join(tree, 'large.bin'), randomBytes(12 * 1024 * 1024));
  const env = clientEnv({ RESTIC_REPOSITORY: `s3:${daemon.s3Url}/restic-repo`, RESTIC_PASSWORD: 'a test password', RESTIC_CACHE_DIR: join(home, 'restic-cache') });
  for (const args of [['init'], ['backup', tree], ['check', '--read-data']]) {
    const r = run('restic', args, env);
    assert.is(r.status, 0, `restic ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  }
  const target = join(pool.root, 'restored');
  const restore = run('restic', ['restore', 'latest', '--target', target], env);
  assert.is(restore.status, 0, restore.stderr);
  const want = treeFiles(tree);
  const got = treeFiles(join(target, tree));
  assert.is(got.size, want.size);
  assert.equal([...got.entries()].sort(), [...want.entries()].sort());
});

test('AWS CLI: the examples of docs/S3.md (mb, a multipart cp, sync both ways, ls, head-object, presign, rb --force)', async () => {
  const env = clientEnv({ AWS_DEFAULT_REGION: 'us-east-1', AWS_PAGER: '' });
  const aws = (...args: string[]) => {
    const r = run('aws', ['--endpoint-url', daemon.s3Url!, ...args], env);
    assert.is(r.status, 0, `aws ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const big = join(pool.root, 'aws-big.bin');
  const bigBytes = randomBytes(20 * 1024 * 1024 + 12345);
  writeFileSync(big, bigBytes);
  const tree = join(pool.root, 'aws-tree');
  makeTree(tree, 60);
  aws('s3', 'mb', 's3://aws-cli');
  // Above 8 MiB the CLI uploads in parts, several at once.
  aws('s3', 'cp', '--only-show-errors', big, 's3://aws-cli/big.bin');
  aws('s3', 'sync', '--only-show-errors', tree, 's3://aws-cli/tree');
  const listed = aws('s3', 'ls', '--recursive', 's3://aws-cli/tree/').trim().split('\n');
  assert.is(listed.length, 60);
  const head = JSON.parse(aws('s3api', 'head-object', '--bucket', 'aws-cli', '--key', 'big.bin')) as { ContentLength: number; ETag: string };
  assert.is(head.ContentLength, bigBytes.length);
  assert.match(head.ETag, /^"[0-9a-f]{32}-3"$/, 'a multipart ETag, of 3 parts of 8 MiB');
  // The pool holds the object: its catalogue row is there, under the bucket's prefix.
  assert.is((pool.run('stat', 'aws-cli/big.bin', '--json').json as { size: number }).size, bigBytes.length);
  // A presigned URL (V4, as the example configures) fetched by a plain HTTP client.
  const config = run('aws', ['configure', 'set', 'default.s3.signature_version', 's3v4'], env);
  assert.is(config.status, 0, config.stderr);
  const url = aws('s3', 'presign', 's3://aws-cli/big.bin', '--expires-in', '600').trim();
  assert.match(url, 'X-Amz-Signature=');
  const fetched = Buffer.from(await (await fetch(url)).arrayBuffer());
  assert.ok(fetched.equals(bigBytes), 'the presigned GET gives the bytes back');
  const back = join(pool.root, 'aws-back.bin');
  aws('s3', 'cp', '--only-show-errors', 's3://aws-cli/big.bin', back);
  assert.ok(readFileSync(back).equals(bigBytes));
  const backTree = join(pool.root, 'aws-tree-back');
  aws('s3', 'sync', '--only-show-errors', 's3://aws-cli/tree', backTree);
  assert.equal([...treeFiles(backTree).entries()].sort(), [...treeFiles(tree).entries()].sort());
  aws('s3', 'rb', 's3://aws-cli', '--force');
  const gone = run('aws', ['--endpoint-url', daemon.s3Url!, 's3api', 'head-bucket', '--bucket', 'aws-cli'], env);
  assert.is.not(gone.status, 0, 'the bucket is gone');
});

/** Whether this machine lets us mount with FUSE (the device opens for writing and s3fs exists). */
function fuseUsable(): string | null {
  try {
    closeSync(openSync('/dev/fuse', constants.O_RDWR));
  } catch (error) {
    return `/dev/fuse is not usable here (${(error as NodeJS.ErrnoException).code})`;
  }
  if (spawnSync('s3fs', ['--version']).error) return 's3fs is not installed';
  return null;
}

test('a FUSE mount with s3fs: files written and read through the mount are objects of the bucket', async () => {
  const why = fuseUsable();
  if (why) {
    console.log(`  (mount test skipped: ${why})`);
    return;
  }
  await s3.send(new PutObjectCommand({ Bucket: 'rclone-sync', Key: 'from-s3.txt', Body: 'written through S3' }));
  const mnt = join(pool.root, 'mnt');
  mkdirSync(mnt);
  const passwd = join(home, 's3fs-passwd');
  writeFileSync(passwd, `${key.accessKeyId}:${key.secretAccessKey}\n`, { mode: 0o600 });
  const mount = run('s3fs', ['rclone-sync', mnt, '-o', `url=${daemon.s3Url}`, '-o', 'use_path_request_style', '-o', `passwd_file=${passwd}`, '-o', 'endpoint=us-east-1'], clientEnv());
  // A machine may offer /dev/fuse and still refuse the mount itself (a container without the right to mount).
  if (mount.status !== 0 && /not permitted|permission denied|EPERM|EACCES/i.test(mount.stderr)) {
    console.log(`  (mount test skipped: the mount was refused here: ${mount.stderr.trim().split('\n').pop()})`);
    return;
  }
  assert.is(mount.status, 0, mount.stderr);
  try {
    assert.is(readFileSync(join(mnt, 'from-s3.txt'), 'utf8'), 'written through S3');
    const data = randomBytes(3 * 1024 * 1024 + 5);
    mkdirSync(join(mnt, 'made-by-fuse'));
    writeFileSync(join(mnt, 'made-by-fuse', 'blob.bin'), data);
    assert.ok(readFileSync(join(mnt, 'made-by-fuse', 'blob.bin')).equals(data));
    assert.ok(readdirSync(mnt).includes('tree'));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'rclone-sync', Key: 'made-by-fuse/blob.bin' }));
    assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(data));
  } finally {
    const unmount = spawnSync('fusermount3', ['-u', mnt]);
    if (unmount.status !== 0) spawnSync('umount', [mnt]);
  }
  assert.not.ok(existsSync(join(mnt, 'from-s3.txt')), 'unmounted');
});

test('integrity through S3: a damaged fragment of an object written through S3 is repaired by scrub, and GETs stay exact', async () => {
  const data = randomBytes(2 * 1024 * 1024 + 3);
  await s3.send(new PutObjectCommand({ Bucket: 'rclone-sync', Key: 'precious.bin', Body: data }));
  const extents = pool.run('list-extents', '--key', 'rclone-sync/precious.bin', '--json');
  assert.is(extents.code, 0, extents.stderr);
  const fragment = (extents.json.extents as { fragments: { path: string }[] }[])[1]!.fragments[2]!;
  const bytes = readFileSync(fragment.path);
  bytes[bytes.length - 10]! ^= 0xff;
  writeFileSync(fragment.path, bytes);
  const exact = async () => {
    const got = await s3.send(new GetObjectCommand({ Bucket: 'rclone-sync', Key: 'precious.bin' }));
    return Buffer.from(await got.Body!.transformToByteArray()).equals(data);
  };
  // Auto-repair off: a read that meets the damage leaves it for the scrub (with it on, the daemon heals it at once).
  assert.is(pool.run('scrub-schedule', '--auto-repair', 'false').code, 0);
  assert.ok(await exact(), 'exact with a damaged fragment');
  assert.is(pool.run('scrub-schedule', '--auto-repair', 'true').code, 0);
  const scrub = pool.run('scrub', '--repair', '--json');
  assert.is(scrub.code, 0, scrub.stdout + scrub.stderr);
  assert.is(scrub.json.extents.repaired, 1, JSON.stringify(scrub.json));
  const after = pool.run('list-extents', '--key', 'rclone-sync/precious.bin', '--json').json as { extents: { fragments: { state: string; path: string }[] }[] };
  assert.ok(after.extents.every((e) => e.fragments.every((f) => f.state === 'ok')));
  assert.not.equal(readFileSync(fragment.path), bytes);
  assert.ok(await exact(), 'exact after the repair');
});

test.run();
