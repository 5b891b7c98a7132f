// A multipart completion killed half-way through rewriting its parts'
// headers (a crash point, SIGKILL): the catalogue still holds the upload, a
// second completion after the restart makes the object, exact; a scrub then
// finds nothing wrong, and recover-catalog brings the object back whole.
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

test.after(async () => {
  await daemon?.stop();
  pool?.cleanup();
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('a completion killed while it rewrites headers: the retry completes it, scrub finds nothing wrong, recover-catalog brings it back', async () => {
  pool = makePool({ disks: 6 });
  const key = pool.run('s3-key', 'create', '--json').json as S3Key;
  // 5 MiB, 5 MiB + 5 and 2 MiB: 13 extents, 78 fragment headers to rewrite; the daemon dies before the 40th write.
  daemon = await startDaemon(pool.pool, ['serve'], { DYNAMICFS_CRASH_LABEL: 'assemble:header#40' });
  let s3 = s3Client(daemon.s3Url!, key);
  await s3.send(new CreateBucketCommand({ Bucket: 'crash' }));
  const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB + 5), randomBytes(2 * MiB)];
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'crash', Key: 'big.bin' }));
  const etags: string[] = [];
  for (const [i, body] of parts.entries()) etags.push((await s3.send(new UploadPartCommand({ Bucket: 'crash', Key: 'big.bin', UploadId, PartNumber: i + 1, Body: body }))).ETag!);
  const complete = () => s3.send(new CompleteMultipartUploadCommand({ Bucket: 'crash', Key: 'big.bin', UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }));
  let failed = false;
  try {
    await complete();
  } catch {
    failed = true;
  }
  assert.ok(failed, 'the completion did not answer');
  const exited = await new Promise<number | null>((resolve) => (daemon!.child.exitCode !== null || daemon!.child.signalCode !== null ? resolve(null) : daemon!.child.once('exit', () => resolve(null))));
  assert.is(exited, null);
  assert.is(daemon.child.signalCode, 'SIGKILL');
  s3.destroy();

  daemon = await startDaemon(pool.pool, ['serve']);
  s3 = s3Client(daemon.s3Url!, key);
  // The upload is as it was: its parts listed, and completing it works.
  assert.equal((await s3.send(new ListPartsCommand({ Bucket: 'crash', Key: 'big.bin', UploadId }))).Parts!.map((p) => p.Size), parts.map((p) => p.length));
  await complete();
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

test.run();
