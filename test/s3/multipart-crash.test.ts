// A multipart completion killed (a crash point, SIGKILL) half-way through
// rewriting its parts' headers: the catalogue still holds the upload, a
// second completion after the restart makes the object, exact; a scrub then
// finds nothing wrong, and recover-catalog brings the object back whole.
// Killed just after its commit: the retried completion answers as the first
// would have, and the upload is gone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, ListPartsCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { makePool, type TestPool } from '../helpers/cli.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { s3Client, type S3Key } from '../helpers/s3.js';

const MiB = 1024 * 1024;
let pool: TestPool;
let daemon: RunningDaemon | null = null;

test.after.each(async () => {
  await daemon?.stop();
  daemon = null;
  pool?.cleanup();
});

/** Resolves once the daemon has died of the crash point. */
function killed(d: RunningDaemon): Promise<string | null> {
  return new Promise((resolve) => (d.child.exitCode !== null || d.child.signalCode !== null ? resolve(d.child.signalCode) : d.child.once('exit', () => resolve(d.child.signalCode))));
}

/** An upload of `parts` to crash/big.bin, its parts sent; the completion, to call. */
async function uploaded(s3: ReturnType<typeof s3Client>, parts: Buffer[]) {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'crash', Key: 'big.bin' }));
  const etags: string[] = [];
  for (const [i, body] of parts.entries()) etags.push((await s3.send(new UploadPartCommand({ Bucket: 'crash', Key: 'big.bin', UploadId, PartNumber: i + 1, Body: body }))).ETag!);
  return {
    UploadId,
    complete: (client: ReturnType<typeof s3Client>) => client.send(new CompleteMultipartUploadCommand({ Bucket: 'crash', Key: 'big.bin', UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } })),
  };
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A new pool and its S3 key, with a daemon that dies at the crash point `label`. */
async function crashingDaemon(label: string): Promise<S3Key> {
  pool = makePool({ disks: 6 });
  const key = pool.run('s3-key', 'create', '--json').json as S3Key;
  daemon = await startDaemon(pool.pool, ['serve'], { DYNAMICFS_CRASH_LABEL: label });
  return key;
}

test('a completion killed while it rewrites headers: the retry completes it, scrub finds nothing wrong, recover-catalog brings it back', async () => {
  // 5 MiB, 5 MiB + 5 and 2 MiB: 13 extents, 78 fragment headers to rewrite; the daemon dies before the 40th write.
  const key = await crashingDaemon('assemble:header#40');
  let s3 = s3Client(daemon!.s3Url!, key);
  await s3.send(new CreateBucketCommand({ Bucket: 'crash' }));
  const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB + 5), randomBytes(2 * MiB)];
  const { UploadId, complete: completeWith } = await uploaded(s3, parts);
  let failed = false;
  try {
    await completeWith(s3);
  } catch {
    failed = true;
  }
  assert.ok(failed, 'the completion did not answer');
  assert.is(await killed(daemon!), 'SIGKILL');
  s3.destroy();

  daemon = await startDaemon(pool.pool, ['serve']);
  s3 = s3Client(daemon.s3Url!, key);
  // The upload is as it was: its parts listed, and completing it works.
  assert.equal((await s3.send(new ListPartsCommand({ Bucket: 'crash', Key: 'big.bin', UploadId }))).Parts!.map((p) => p.Size), parts.map((p) => p.length));
  await completeWith(s3);
  const whole = Buffer.concat(parts);
  const got = await s3.send(new GetObjectCommand({ Bucket: 'crash', Key: 'big.bin' }));
  assert.is(sha(await got.Body!.transformToByteArray()), sha(whole));
  s3.destroy();
  await daemon.stop();
  daemon = null;

  const scrub = pool.run('scrub', '--json');
  assert.is(scrub.code, 0, scrub.stdout + scrub.stderr);
  assert.equal([scrub.json.extentsScanned, scrub.json.fragmentsChecked, scrub.json.issuesFound, scrub.json.extents.healthy], [13, 78, 0, 13], JSON.stringify(scrub.json));
  const recovered = pool.run('recover-catalog', '--json');
  assert.is(recovered.code, 0, recovered.stderr);
  const out = join(pool.root, 'big.out');
  const get = pool.run('get', 'crash/big.bin', '-o', out);
  assert.is(get.code, 0, get.stderr);
  assert.is(sha(readFileSync(out)), sha(whole));
});

test('a completion killed just after its commit: the retry answers with the object\'s ETag, and the upload is gone', async () => {
  const key = await crashingDaemon('assemble:committed');
  let s3 = s3Client(daemon!.s3Url!, key);
  await s3.send(new CreateBucketCommand({ Bucket: 'crash' }));
  const parts = [randomBytes(5 * MiB), randomBytes(3 * MiB)];
  const { UploadId, complete } = await uploaded(s3, parts);
  await complete(s3).catch(() => {});
  assert.is(await killed(daemon!), 'SIGKILL');
  s3.destroy();
  daemon = await startDaemon(pool.pool, ['serve']);
  s3 = s3Client(daemon.s3Url!, key);
  const done = await complete(s3);
  const want = `"${createHash('md5').update(Buffer.concat(parts.map((p) => createHash('md5').update(p).digest()))).digest('hex')}-2"`;
  assert.is(done.ETag, want);
  const got = await s3.send(new GetObjectCommand({ Bucket: 'crash', Key: 'big.bin' }));
  assert.is(got.ETag, want);
  assert.is(sha(await got.Body!.transformToByteArray()), sha(Buffer.concat(parts)));
  let gone = '';
  try {
    await s3.send(new ListPartsCommand({ Bucket: 'crash', Key: 'big.bin', UploadId }));
  } catch (error) {
    gone = (error as Error).name;
  }
  assert.is(gone, 'NoSuchUpload');
  s3.destroy();
});

test.run();
