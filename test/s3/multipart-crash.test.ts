// A multipart completion killed (a crash point, SIGKILL) at each of its
// steps. After writing its assembly records, before its commit: the upload
// is as it was, and completing it after the restart makes the object, exact.
// Just after its commit: the retried completion answers as the first would
// have, and the upload is gone. Half-way through rewriting the headers (in
// the background, after the commit): recover-catalog makes the object from
// the records, exact; the next command to open the pool finishes the
// headers; a scrub then finds nothing wrong, and recover-catalog brings the
// object back from the headers alone. No record is left in the end.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
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

/** The assembly records on the pool's disks. */
function records(): string[] {
  return pool.disks.flatMap((d) => (existsSync(join(d, 'assembling')) ? readdirSync(join(d, 'assembling')) : []));
}

test('a completion killed before its commit: the upload is as it was, and completing it after the restart makes the object', async () => {
  const key = await crashingDaemon('assemble:recorded');
  let s3 = s3Client(daemon!.s3Url!, key);
  await s3.send(new CreateBucketCommand({ Bucket: 'crash' }));
  const parts = [randomBytes(5 * MiB), randomBytes(2 * MiB)];
  const { UploadId, complete } = await uploaded(s3, parts);
  await complete(s3).then(() => assert.unreachable('the completion answered'), () => {});
  assert.is(await killed(daemon!), 'SIGKILL');
  s3.destroy();
  assert.is(records().length, 6, 'a record on every disk');

  daemon = await startDaemon(pool.pool, ['serve']);
  s3 = s3Client(daemon.s3Url!, key);
  assert.equal((await s3.send(new ListPartsCommand({ Bucket: 'crash', Key: 'big.bin', UploadId }))).Parts!.map((p) => p.Size), parts.map((p) => p.length));
  await complete(s3);
  const got = await s3.send(new GetObjectCommand({ Bucket: 'crash', Key: 'big.bin' }));
  assert.is(sha(await got.Body!.transformToByteArray()), sha(Buffer.concat(parts)));
  s3.destroy();
  await daemon.stop();
  daemon = null;
  assert.equal(records(), [], 'the record of the completion that never committed is dropped, and the new one is done');
});

test('a completion killed while it rewrites headers: recover-catalog makes the object from its records; the next command finishes the headers; scrub finds nothing wrong', async () => {
  // 5 MiB, 5 MiB + 5 and 2 MiB: 13 extents, 78 fragment headers to rewrite; the daemon dies before the 40th write.
  const key = await crashingDaemon('assemble:header#40');
  const s3 = s3Client(daemon!.s3Url!, key);
  await s3.send(new CreateBucketCommand({ Bucket: 'crash' }));
  const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB + 5), randomBytes(2 * MiB)];
  const { complete } = await uploaded(s3, parts);
  // Answered or not: the rewrite runs after the answer, and the daemon may die before it is out.
  await complete(s3).catch(() => {});
  assert.is(await killed(daemon!), 'SIGKILL');
  s3.destroy();
  daemon = null;
  assert.is(records().length, 6);
  const whole = Buffer.concat(parts);
  const out = join(pool.root, 'big.out');
  const getExact = () => {
    const get = pool.run('get', 'crash/big.bin', '-o', out);
    assert.is(get.code, 0, get.stderr);
    assert.is(sha(readFileSync(out)), sha(whole));
  };

  // Half the headers still say "a part": the records say what they are.
  const fromRecords = pool.run('recover-catalog', '--json');
  assert.is(fromRecords.code, 0, fromRecords.stderr);
  assert.equal([fromRecords.json.assembliesApplied, fromRecords.json.objectsRecovered], [1, 1], fromRecords.stdout);
  // The get opens the pool: it rewrites the rest of the headers and drops the records before it ends.
  getExact();
  assert.equal(records(), []);

  const scrub = pool.run('scrub', '--json');
  assert.is(scrub.code, 0, scrub.stdout + scrub.stderr);
  assert.equal([scrub.json.extentsScanned, scrub.json.fragmentsChecked, scrub.json.issuesFound, scrub.json.extents.healthy], [13, 78, 0, 13], JSON.stringify(scrub.json));
  const fromHeaders = pool.run('recover-catalog', '--json');
  assert.is(fromHeaders.code, 0, fromHeaders.stderr);
  assert.equal([fromHeaders.json.assembliesApplied, fromHeaders.json.objectsRecovered, fromHeaders.json.uploadPartExtents], [0, 1, 0], fromHeaders.stdout);
  getExact();
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
  await daemon.stop();
  daemon = null;
  assert.equal(records(), [], 'the restart rewrote the headers and dropped the record');
});

test.run();
