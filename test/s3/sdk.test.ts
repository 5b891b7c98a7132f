// The S3 endpoint through the AWS SDK for JavaScript, against a real daemon:
// every supported operation, the error codes, presigned URLs, multipart
// uploads with parts in any order, streaming signatures, checksums, and the
// same objects seen through the pool's own API.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteBucketCommand,
  DeleteObjectCommand, DeleteObjectsCommand, GetBucketAclCommand, GetBucketLocationCommand, GetBucketVersioningCommand, GetObjectCommand, GetObjectTaggingCommand,
  HeadBucketCommand, HeadObjectCommand, ListBucketsCommand, ListMultipartUploadsCommand, ListObjectVersionsCommand, ListObjectsCommand, ListObjectsV2Command,
  ListPartsCommand, PutBucketVersioningCommand, PutObjectCommand, S3Client, S3ServiceException, UploadPartCommand, UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { makePool, type TestPool } from '../helpers/cli.js';
import { startDaemon, waitFor, type RunningDaemon } from '../helpers/daemon.js';
import { rawRequest, s3Client, signed, type S3Key } from '../helpers/s3.js';

let pool: TestPool;
let daemon: RunningDaemon;
let key: S3Key;
let s3: S3Client;
let port: number;

const MiB = 1024 * 1024;
const md5 = (b: Uint8Array | string) => createHash('md5').update(b).digest('hex');

/** The S3 error a call fails with (its code and HTTP status). */
async function failure(p: Promise<unknown>): Promise<{ code: string; status: number | undefined; message: string }> {
  try {
    await p;
  } catch (error) {
    const e = error as S3ServiceException;
    return { code: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
  }
  throw new Error('the call succeeded');
}

/** The fragment files on the pool's disks. */
function fragmentFiles(): string[] {
  return pool.disks.flatMap((d) => readdirSync(join(d, 'fragments'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name))).sort();
}

async function body(p: Promise<{ Body?: unknown }>): Promise<Buffer> {
  const out = await p;
  return Buffer.from(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

test.before(async () => {
  pool = makePool({ disks: 6 });
  const created = pool.run('s3-key', 'create', '--name', 'tests', '--json');
  assert.is(created.code, 0, created.stderr);
  key = created.json as S3Key;
  daemon = await startDaemon(pool.pool, ['serve', '--log-level', 'info']);
  assert.ok(daemon.s3Url, 'daemon.json names the S3 endpoint');
  port = Number(new URL(daemon.s3Url!).port);
  s3 = s3Client(daemon.s3Url!, key);
  await s3.send(new CreateBucketCommand({ Bucket: 'photos' }));
});
test.after(async () => {
  s3?.destroy();
  await daemon?.stop();
  pool?.cleanup();
});

test('s3-key: create prints the secret once, list hides it, the key file is the owner\'s alone', () => {
  const listed = pool.run('s3-key', 'list', '--json');
  assert.is(listed.code, 0);
  assert.equal(listed.json.keys.map((k: { accessKeyId: string }) => k.accessKeyId), [key.accessKeyId]);
  assert.not.ok(listed.stdout.includes(key.secretAccessKey));
  assert.is(statSync(`${pool.pool}/s3-keys.json`).mode & 0o777, 0o600);
  assert.is(pool.run('s3-key', 'delete', 'DFSNOSUCHKEY', '--json').code, 1);
});

test('buckets: create, head, list, location, versioning; rules on names; delete only when empty', async () => {
  await s3.send(new CreateBucketCommand({ Bucket: 'docs.2024' }));
  assert.is((await s3.send(new HeadBucketCommand({ Bucket: 'docs.2024' }))).$metadata.httpStatusCode, 200);
  const names = (await s3.send(new ListBucketsCommand({}))).Buckets!.map((b) => b.Name);
  assert.equal(names, ['docs.2024', 'photos']);
  assert.is((await s3.send(new GetBucketLocationCommand({ Bucket: 'photos' }))).LocationConstraint, undefined);
  assert.is((await s3.send(new GetBucketVersioningCommand({ Bucket: 'photos' }))).Status, undefined);
  assert.equal(await failure(s3.send(new CreateBucketCommand({ Bucket: 'photos' }))), { code: 'BucketAlreadyOwnedByYou', status: 409, message: (await failure(s3.send(new CreateBucketCommand({ Bucket: 'photos' })))).message });
  for (const bad of ['ab', 'Upper', '-dash', 'a..b', '192.168.1.1', 'x'.repeat(64)]) {
    assert.is((await failure(s3.send(new CreateBucketCommand({ Bucket: bad })))).code, 'InvalidBucketName', bad);
  }
  assert.is((await failure(s3.send(new HeadBucketCommand({ Bucket: 'nothere' })))).status, 404);
  assert.is((await failure(s3.send(new ListObjectsV2Command({ Bucket: 'nothere' })))).code, 'NoSuchBucket');
  await s3.send(new PutObjectCommand({ Bucket: 'docs.2024', Key: 'a', Body: 'x' }));
  assert.equal((await failure(s3.send(new DeleteBucketCommand({ Bucket: 'docs.2024' })))).code, 'BucketNotEmpty');
  await s3.send(new DeleteObjectCommand({ Bucket: 'docs.2024', Key: 'a' }));
  await s3.send(new DeleteBucketCommand({ Bucket: 'docs.2024' }));
  assert.is((await failure(s3.send(new HeadBucketCommand({ Bucket: 'docs.2024' })))).status, 404);
});

test('objects: PUT and GET round trip bytes, ETag (MD5), content type, standard headers and user metadata; the pool sees the same object', async () => {
  const data = randomBytes(3 * MiB + 12345);
  const put = await s3.send(new PutObjectCommand({
    Bucket: 'photos', Key: 'trip/day 1/ünïcode.jpg', Body: data, ContentType: 'image/jpeg', CacheControl: 'max-age=60',
    ContentDisposition: 'attachment; filename="x.jpg"', ContentLanguage: 'fr', Metadata: { camera: 'x100', 'taken-at': 'dawn' },
  }));
  assert.is(put.ETag, `"${md5(data)}"`);
  const got = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'trip/day 1/ünïcode.jpg' }));
  assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(data));
  assert.is(got.ETag, `"${md5(data)}"`);
  assert.is(got.ContentType, 'image/jpeg');
  assert.is(got.CacheControl, 'max-age=60');
  assert.is(got.ContentDisposition, 'attachment; filename="x.jpg"');
  assert.is(got.ContentLanguage, 'fr');
  assert.equal(got.Metadata, { camera: 'x100', 'taken-at': 'dawn' });
  assert.is(got.ContentLength, data.length);
  const head = await s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'trip/day 1/ünïcode.jpg' }));
  assert.is(head.ContentLength, data.length);
  assert.equal(head.Metadata, { camera: 'x100', 'taken-at': 'dawn' });
  // The pool's own API: the same object under "<bucket>/<key>", with its extents and policy.
  const auth = { authorization: `Bearer ${daemon.token}` };
  const v1 = await fetch(`${daemon.url}/v1/objects/${encodeURIComponent('photos/trip/day 1/ünïcode.jpg')}`, { headers: auth });
  assert.is(v1.status, 200);
  assert.ok(Buffer.from(await v1.arrayBuffer()).equals(data));
  const extents = pool.run('list-extents', '--key', 'photos/trip/day 1/ünïcode.jpg', '--json');
  assert.is(extents.code, 0, extents.stderr);
  assert.is(extents.json.extents.length, 4);
  // ...and the reverse: written through /v1, read through S3.
  assert.is((await fetch(`${daemon.url}/v1/objects/photos/from-v1.txt`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: 'written by the pool API' })).status, 200);
  assert.is((await body(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'from-v1.txt' })))).toString(), 'written by the pool API');
  assert.is((await failure(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'missing' })))).code, 'NoSuchKey');
  assert.is((await failure(s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'missing' })))).status, 404);
});

test('keys are data: dots, slashes and odd characters stay inside the bucket; too long a key is refused', async () => {
  for (const k of ['../../etc/passwd', 'a//b', 'dir/', ' lead and trail ', 'q?x=1&y', 'percent%2Fsign', 'emoji 🎉']) {
    await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: k, Body: k }));
    assert.is((await body(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: k })))).toString(), k, k);
  }
  const listed = (await s3.send(new ListObjectsV2Command({ Bucket: 'photos', Prefix: '../' }))).Contents!.map((c) => c.Key);
  assert.equal(listed, ['../../etc/passwd']);
  assert.is((await failure(s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'k'.repeat(1025), Body: 'x' })))).code, 'KeyTooLongError');
  await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'k'.repeat(1024), Body: 'longest' }));
  assert.is((await body(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'k'.repeat(1024) })))).toString(), 'longest');
});

test('ranges: first bytes, a suffix, an open end, across extents; past the end is InvalidRange', async () => {
  const data = randomBytes(2 * MiB + 100);
  await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'ranged', Body: data }));
  const cases: [string, number, number][] = [['bytes=0-9', 0, 10], ['bytes=-5', data.length - 5, data.length], [`bytes=${MiB - 3}-${MiB + 2}`, MiB - 3, MiB + 3], [`bytes=${2 * MiB}-`, 2 * MiB, data.length], ['bytes=5-999999999', 5, data.length]];
  for (const [range, start, end] of cases) {
    const got = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'ranged', Range: range }));
    assert.is(got.$metadata.httpStatusCode, 206, range);
    assert.is(got.ContentRange, `bytes ${start}-${end - 1}/${data.length}`);
    assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(data.subarray(start, end)), range);
  }
  const small = Buffer.from('0123456789');
  await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'ranged-small', Body: small }));
  assert.is((await body(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'ranged-small', Range: 'bytes=3-5' })))).toString(), '345');
  const bad = await failure(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'ranged', Range: `bytes=${data.length}-` })));
  assert.equal([bad.code, bad.status], ['InvalidRange', 416]);
});

test('conditional GET, HEAD and PUT', async () => {
  const put = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'cond', Body: 'v1' }));
  const etag = put.ETag!;
  assert.is((await body(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'cond', IfMatch: etag })))).toString(), 'v1');
  assert.equal((await failure(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'cond', IfMatch: '"nope"' })))).status, 412);
  assert.is((await failure(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'cond', IfNoneMatch: etag })))).status, 304);
  assert.is((await failure(s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'cond', IfNoneMatch: etag })))).status, 304);
  assert.is((await failure(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'cond', IfModifiedSince: new Date(Date.now() + 60_000) })))).status, 304);
  assert.is((await failure(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'cond', IfUnmodifiedSince: new Date(Date.now() - 3_600_000) })))).status, 412);
  assert.is((await body(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'cond', IfModifiedSince: new Date(Date.now() - 3_600_000) })))).toString(), 'v1');
  // If-None-Match: * writes only a new key.
  assert.is((await failure(s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'cond', Body: 'v2', IfNoneMatch: '*' })))).status, 412);
  await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'cond-new', Body: 'v2', IfNoneMatch: '*' }));
  assert.is((await body(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'cond' })))).toString(), 'v1');
});

test('DeleteObject is idempotent; DeleteObjects deletes a batch and reports each key', async () => {
  for (const k of ['del/a', 'del/b', 'del/c']) await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: k, Body: k }));
  assert.is((await s3.send(new DeleteObjectCommand({ Bucket: 'photos', Key: 'del/a' }))).$metadata.httpStatusCode, 204);
  assert.is((await s3.send(new DeleteObjectCommand({ Bucket: 'photos', Key: 'del/a' }))).$metadata.httpStatusCode, 204);
  const out = await s3.send(new DeleteObjectsCommand({ Bucket: 'photos', Delete: { Objects: [{ Key: 'del/b' }, { Key: 'del/c' }, { Key: 'del/none' }] } }));
  assert.equal(out.Deleted!.map((d) => d.Key).sort(), ['del/b', 'del/c', 'del/none']);
  assert.is(out.Errors, undefined);
  assert.is((await s3.send(new ListObjectsV2Command({ Bucket: 'photos', Prefix: 'del/' }))).KeyCount, 0);
  const quiet = await s3.send(new DeleteObjectsCommand({ Bucket: 'photos', Delete: { Quiet: true, Objects: [{ Key: 'del/x' }] } }));
  assert.is(quiet.Deleted, undefined);
});

test('CopyObject: metadata copied or replaced; copying onto itself needs REPLACE; a missing source is NoSuchKey', async () => {
  const data = randomBytes(1.5 * MiB);
  await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'orig', Body: data, ContentType: 'text/x', Metadata: { a: '1' } }));
  const copied = await s3.send(new CopyObjectCommand({ Bucket: 'photos', Key: 'copy', CopySource: 'photos/orig' }));
  assert.is(copied.CopyObjectResult!.ETag, `"${md5(data)}"`);
  const got = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'copy' }));
  assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(data));
  assert.equal([got.ContentType, got.Metadata], ['text/x', { a: '1' }]);
  await s3.send(new CopyObjectCommand({ Bucket: 'photos', Key: 'copy', CopySource: 'photos/copy', MetadataDirective: 'REPLACE', ContentType: 'text/y', Metadata: { b: '2' } }));
  const replaced = await s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'copy' }));
  assert.equal([replaced.ContentType, replaced.Metadata], ['text/y', { b: '2' }]);
  assert.is((await failure(s3.send(new CopyObjectCommand({ Bucket: 'photos', Key: 'copy', CopySource: 'photos/copy' })))).code, 'InvalidRequest');
  assert.is((await failure(s3.send(new CopyObjectCommand({ Bucket: 'photos', Key: 'x', CopySource: 'photos/missing' })))).code, 'NoSuchKey');
  assert.is((await failure(s3.send(new CopyObjectCommand({ Bucket: 'photos', Key: 'x', CopySource: 'photos/orig', CopySourceIfMatch: '"other"' })))).status, 412);
});

test('listing: V2 with prefix, delimiter, pages and start-after; V1 with markers; versions as "null"', async () => {
  await s3.send(new CreateBucketCommand({ Bucket: 'list' }));
  const keys = ['a.txt', 'b/1', 'b/2', 'b/c/3', 'c/1', 'd', ...Array.from({ length: 12 }, (_, i) => `e/${String(i).padStart(2, '0')}`)];
  await Promise.all(keys.map((k) => s3.send(new PutObjectCommand({ Bucket: 'list', Key: k, Body: k }))));
  const top = await s3.send(new ListObjectsV2Command({ Bucket: 'list', Delimiter: '/' }));
  assert.equal(top.Contents!.map((c) => c.Key), ['a.txt', 'd']);
  assert.equal(top.CommonPrefixes!.map((p) => p.Prefix), ['b/', 'c/', 'e/']);
  const under = await s3.send(new ListObjectsV2Command({ Bucket: 'list', Prefix: 'b/', Delimiter: '/' }));
  assert.equal([under.Contents!.map((c) => c.Key), under.CommonPrefixes!.map((p) => p.Prefix)], [['b/1', 'b/2'], ['b/c/']]);
  // Pages of 4, with and without a delimiter: every key (or prefix) exactly once, in order.
  for (const delimiter of [undefined, '/']) {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: 'list', MaxKeys: 4, ContinuationToken: token, Delimiter: delimiter }));
      seen.push(...(page.Contents ?? []).map((c) => c.Key!), ...(page.CommonPrefixes ?? []).map((p) => p.Prefix!));
      assert.is(page.KeyCount, (page.Contents?.length ?? 0) + (page.CommonPrefixes?.length ?? 0));
      token = page.NextContinuationToken;
      pages++;
      assert.is(page.IsTruncated, token !== undefined);
    } while (token);
    const want = delimiter ? ['a.txt', 'b/', 'c/', 'd', 'e/'] : [...keys].sort();
    assert.equal([...seen].sort(), want);
    assert.is(pages, Math.ceil(want.length / 4));
  }
  assert.equal((await s3.send(new ListObjectsV2Command({ Bucket: 'list', StartAfter: 'e/09' }))).Contents!.map((c) => c.Key), ['e/10', 'e/11']);
  const v1 = await s3.send(new ListObjectsCommand({ Bucket: 'list', MaxKeys: 3 }));
  assert.equal([v1.Contents!.map((c) => c.Key), v1.IsTruncated], [['a.txt', 'b/1', 'b/2'], true]);
  const v1b = await s3.send(new ListObjectsCommand({ Bucket: 'list', Marker: v1.NextMarker ?? 'b/2', MaxKeys: 2 }));
  assert.equal(v1b.Contents!.map((c) => c.Key), ['b/c/3', 'c/1']);
  const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: 'list', Prefix: 'b/' }));
  assert.equal(versions.Versions!.map((v) => [v.Key, v.VersionId, v.IsLatest]), [['b/1', 'null', true], ['b/2', 'null', true], ['b/c/3', 'null', true]]);
  assert.is(versions.Versions![0]!.ETag, `"${md5('b/1')}"`);
});

test('multipart: parts uploaded in any order, listed, completed with S3\'s ETag; the errors of a bad completion', async () => {
  const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB + 7), randomBytes(1234)];
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'photos', Key: 'big.bin', ContentType: 'application/x-big', Metadata: { m: 'p' } }));
  const etags: string[] = [];
  // Parts 3, 1, 2, the first two at once.
  etags[2] = (await s3.send(new UploadPartCommand({ Bucket: 'photos', Key: 'big.bin', UploadId, PartNumber: 3, Body: parts[2] }))).ETag!;
  await Promise.all([0, 1].map(async (i) => {
    etags[i] = (await s3.send(new UploadPartCommand({ Bucket: 'photos', Key: 'big.bin', UploadId, PartNumber: i + 1, Body: parts[i] }))).ETag!;
  }));
  assert.equal(etags, parts.map((p) => `"${md5(p)}"`));
  const listed = await s3.send(new ListPartsCommand({ Bucket: 'photos', Key: 'big.bin', UploadId }));
  assert.equal(listed.Parts!.map((p) => [p.PartNumber, p.Size]), [[1, parts[0]!.length], [2, parts[1]!.length], [3, 1234]]);
  const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'photos' }));
  assert.ok(uploads.Uploads!.some((u) => u.UploadId === UploadId && u.Key === 'big.bin'));
  // Parts are hidden: not in the bucket's listing, nor in the pool's.
  assert.is((await s3.send(new ListObjectsV2Command({ Bucket: 'photos', Prefix: 'big' }))).KeyCount, 0);
  const all = (n: number) => etags.slice(0, n).map((ETag, i) => ({ ETag, PartNumber: i + 1 }));
  assert.is((await failure(s3.send(new CompleteMultipartUploadCommand({ Bucket: 'photos', Key: 'big.bin', UploadId, MultipartUpload: { Parts: [all(3)[1]!, all(3)[0]!] } })))).code, 'InvalidPartOrder');
  assert.is((await failure(s3.send(new CompleteMultipartUploadCommand({ Bucket: 'photos', Key: 'big.bin', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"00000000000000000000000000000000"' }] } })))).code, 'InvalidPart');
  assert.is((await failure(s3.send(new CompleteMultipartUploadCommand({ Bucket: 'photos', Key: 'big.bin', UploadId, MultipartUpload: { Parts: [all(3)[2]!, { PartNumber: 4, ETag: etags[0] }] } })))).code, 'InvalidPart');
  // The completion makes the parts' extents the object's: no fragment file is written.
  const files = fragmentFiles();
  const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'photos', Key: 'big.bin', UploadId, MultipartUpload: { Parts: all(3) } }));
  assert.equal(fragmentFiles(), files);
  const whole = Buffer.concat(parts);
  // Across the end of part 1, and the short extent that ends part 2 in the middle of the object.
  for (const [first, last] of [[5 * MiB - 3, 5 * MiB + 3], [10 * MiB + 5, 10 * MiB + 9]]) {
    assert.ok((await body(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big.bin', Range: `bytes=${first}-${last}` })))).equals(whole.subarray(first, last! + 1)));
  }
  const want = `"${createHash('md5').update(Buffer.concat(parts.map((p) => createHash('md5').update(p).digest()))).digest('hex')}-3"`;
  assert.is(done.ETag, want);
  const got = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big.bin' }));
  assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.concat(parts)));
  assert.equal([got.ETag, got.ContentType, got.Metadata], [want, 'application/x-big', { m: 'p' }]);
  assert.is((await failure(s3.send(new ListPartsCommand({ Bucket: 'photos', Key: 'big.bin', UploadId })))).code, 'NoSuchUpload');
});

test('multipart: a small part before the last is EntityTooSmall; abort drops the parts; UploadPartCopy copies a range', async () => {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'photos', Key: 'small-parts' }));
  const e1 = (await s3.send(new UploadPartCommand({ Bucket: 'photos', Key: 'small-parts', UploadId, PartNumber: 1, Body: 'tiny' }))).ETag!;
  const e2 = (await s3.send(new UploadPartCommand({ Bucket: 'photos', Key: 'small-parts', UploadId, PartNumber: 2, Body: 'tiny' }))).ETag!;
  assert.is((await failure(s3.send(new CompleteMultipartUploadCommand({ Bucket: 'photos', Key: 'small-parts', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e2 }] } })))).code, 'EntityTooSmall');
  assert.is((await failure(s3.send(new UploadPartCommand({ Bucket: 'photos', Key: 'small-parts', UploadId, PartNumber: 10001, Body: 'x' })))).status, 400);
  await s3.send(new AbortMultipartUploadCommand({ Bucket: 'photos', Key: 'small-parts', UploadId }));
  assert.is((await failure(s3.send(new UploadPartCommand({ Bucket: 'photos', Key: 'small-parts', UploadId, PartNumber: 3, Body: 'x' })))).code, 'NoSuchUpload');
  assert.is((await failure(s3.send(new AbortMultipartUploadCommand({ Bucket: 'photos', Key: 'small-parts', UploadId })))).code, 'NoSuchUpload');
  // UploadPartCopy: 6 MiB of a source object, then the rest of it.
  const source = randomBytes(7 * MiB);
  await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'copy-source', Body: source }));
  const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'photos', Key: 'copied-parts' }));
  const c1 = await s3.send(new UploadPartCopyCommand({ Bucket: 'photos', Key: 'copied-parts', UploadId: up.UploadId, PartNumber: 1, CopySource: 'photos/copy-source', CopySourceRange: `bytes=0-${6 * MiB - 1}` }));
  const c2 = await s3.send(new UploadPartCopyCommand({ Bucket: 'photos', Key: 'copied-parts', UploadId: up.UploadId, PartNumber: 2, CopySource: 'photos/copy-source', CopySourceRange: `bytes=${6 * MiB}-${7 * MiB - 1}` }));
  assert.is(c1.CopyPartResult!.ETag, `"${md5(source.subarray(0, 6 * MiB))}"`);
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'photos', Key: 'copied-parts', UploadId: up.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: c1.CopyPartResult!.ETag }, { PartNumber: 2, ETag: c2.CopyPartResult!.ETag }] } }));
  assert.ok((await body(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'copied-parts' })))).equals(source));
});

test('multipart: an upload aborted while a part streams in refuses the part, which leaves no file', async () => {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'photos', Key: 'raced' }));
  const before = fragmentFiles();
  const data = randomBytes(6 * MiB);
  const stream = new PassThrough();
  const sending = failure(s3.send(new UploadPartCommand({ Bucket: 'photos', Key: 'raced', UploadId, PartNumber: 1, Body: stream, ContentLength: data.length })));
  stream.write(data.subarray(0, 4 * MiB));
  // Part of it is on the disks when the upload goes.
  await waitFor('the part\'s first fragments', () => (fragmentFiles().length > before.length ? true : null));
  await s3.send(new AbortMultipartUploadCommand({ Bucket: 'photos', Key: 'raced', UploadId }));
  stream.end(data.subarray(4 * MiB));
  assert.is((await sending).code, 'NoSuchUpload');
  assert.equal(fragmentFiles(), before);
});

test('presigned URLs: GET and PUT work without other credentials; a tampered or expired one is refused', async () => {
  await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'shared.txt', Body: 'shared bytes' }));
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'photos', Key: 'shared.txt' }), { expiresIn: 60 });
  const ok = await fetch(url);
  assert.is(ok.status, 200);
  assert.is(await ok.text(), 'shared bytes');
  const tampered = await fetch(url.replace('shared.txt', 'shared.tx'));
  assert.is(tampered.status, 403);
  assert.match(await tampered.text(), '<Code>SignatureDoesNotMatch</Code>');
  const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: 'photos', Key: 'uploaded.txt' }), { expiresIn: 60 });
  assert.is((await fetch(putUrl, { method: 'PUT', body: 'via a presigned PUT' })).status, 200);
  assert.is((await body(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'uploaded.txt' })))).toString(), 'via a presigned PUT');
  const short = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'photos', Key: 'shared.txt' }), { expiresIn: 1 });
  await new Promise((r) => setTimeout(r, 2100));
  const expired = await fetch(short);
  assert.is(expired.status, 403);
  assert.match(await expired.text(), /<Code>AccessDenied<\/Code><Message>Request has expired/);
});

test('authentication: unsigned, wrong secret, unknown key, skewed clock; keys created and deleted take effect without a restart', async () => {
  const anonymous = await fetch(`${daemon.s3Url}/photos/shared.txt`);
  assert.is(anonymous.status, 403);
  assert.match(await anonymous.text(), '<Code>AccessDenied</Code>');
  const wrong = s3Client(daemon.s3Url!, { ...key, secretAccessKey: `${key.secretAccessKey}x` });
  assert.is((await failure(wrong.send(new ListBucketsCommand({})))).code, 'SignatureDoesNotMatch');
  const unknown = s3Client(daemon.s3Url!, { accessKeyId: 'DFSUNKNOWNKEY0000000', secretAccessKey: 'x' });
  assert.is((await failure(unknown.send(new ListBucketsCommand({})))).code, 'InvalidAccessKeyId');
  const skewed = s3Client(daemon.s3Url!, key, { systemClockOffset: -20 * 60_000 });
  assert.is((await failure(skewed.send(new ListBucketsCommand({})))).code, 'RequestTimeTooSkewed');
  const other = s3Client(daemon.s3Url!, key, { region: 'eu-west-1' });
  assert.is((await failure(other.send(new ListBucketsCommand({})))).status, 400);
  const fresh = pool.run('s3-key', 'create', '--json').json as S3Key;
  const freshClient = s3Client(daemon.s3Url!, fresh);
  assert.is((await freshClient.send(new ListBucketsCommand({}))).$metadata.httpStatusCode, 200);
  assert.is(pool.run('s3-key', 'delete', fresh.accessKeyId).code, 0);
  assert.is((await failure(freshClient.send(new ListBucketsCommand({})))).code, 'InvalidAccessKeyId');
  for (const c of [wrong, unknown, skewed, other, freshClient]) c.destroy();
});

test('checksums: CRC32, CRC32C, SHA-1 and SHA-256 verified, stored and served; a mismatch is BadDigest and stores nothing', async () => {
  const data = randomBytes(200_000);
  for (const algorithm of ['CRC32', 'CRC32C', 'SHA1', 'SHA256'] as const) {
    const put = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: `sum-${algorithm}`, Body: data, ChecksumAlgorithm: algorithm }));
    const field = `Checksum${algorithm}` as const;
    assert.ok(put[field], `${algorithm} answered`);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: `sum-${algorithm}`, ChecksumMode: 'ENABLED' }));
    assert.is(got[field], put[field]);
    assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(data));
  }
  const sha1 = createHash('sha1').update(data).digest('base64');
  assert.is((await s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'sum-SHA1', ChecksumMode: 'ENABLED' }))).ChecksumSHA1, sha1);
  const bad = await failure(s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'sum-bad', Body: data, ChecksumCRC32: 'AAAAAA==' })));
  assert.equal([bad.code, bad.status], ['BadDigest', 400]);
  const badMd5 = await failure(s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'sum-bad', Body: data, ContentMD5: createHash('md5').update('other').digest('base64') })));
  assert.is(badMd5.code, 'BadDigest');
  await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'sum-md5', Body: data, ContentMD5: createHash('md5').update(data).digest('base64') }));
  assert.is((await failure(s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'sum-bad' })))).status, 404);
});

/** A STREAMING-AWS4-HMAC-SHA256-PAYLOAD body: chunks of `size`, each signed, chained from the seed signature. */
function chunkedBody(data: Buffer, size: number, seed: string, amzDate: string, scope: string, signingKey: Buffer, tamper = false): Buffer {
  const out: Buffer[] = [];
  let previous = seed;
  const emptyHash = createHash('sha256').update('').digest('hex');
  for (let at = 0; ; at += size) {
    const chunk = data.subarray(at, Math.min(at + size, data.length));
    const toSign = ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, previous, emptyHash, createHash('sha256').update(chunk).digest('hex')].join('\n');
    const signature = createHmac('sha256', signingKey).update(toSign).digest('hex');
    const sent = tamper && at === size ? Buffer.from(chunk).fill(0, 0, 1) : chunk;
    out.push(Buffer.from(`${chunk.length.toString(16)};chunk-signature=${signature}\r\n`), sent, Buffer.from('\r\n'));
    previous = signature;
    if (chunk.length === 0) break;
  }
  return Buffer.concat(out);
}

function signingKeyFor(secret: string, date: string): Buffer {
  const h = (k: Buffer | string, d: string) => createHmac('sha256', k).update(d).digest();
  return h(h(h(h(`AWS4${secret}`, date), 'us-east-1'), 's3'), 'aws4_request');
}

test('streaming signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD): every chunk checked; one altered chunk stores nothing', async () => {
  const data = randomBytes(300_000);
  for (const tamper of [false, true]) {
    const host = `127.0.0.1:${port}`;
    const path = `/photos/streamed-${tamper}`;
    const headers = { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(data.length) };
    const probe = await signed(key, { method: 'PUT', host, path, headers, payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' });
    const amzDate = probe.headers['x-amz-date']!;
    const seed = /Signature=([0-9a-f]{64})/.exec(probe.headers.authorization!)![1]!;
    const scope = `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`;
    const wire = chunkedBody(data, 64 * 1024, seed, amzDate, scope, signingKeyFor(key.secretAccessKey, amzDate.slice(0, 8)), tamper);
    const res = await rawRequest(port, 'PUT', probe.target, { ...probe.headers, 'content-length': String(wire.length) }, wire);
    if (!tamper) {
      assert.is(res.status, 200, res.body.toString());
      assert.is(res.headers.etag, `"${md5(data)}"`);
      assert.ok((await body(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'streamed-false' })))).equals(data));
    } else {
      assert.is(res.status, 403, res.body.toString());
      assert.match(res.body.toString(), '<Code>SignatureDoesNotMatch</Code>');
      assert.is((await failure(s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'streamed-true' })))).status, 404);
    }
  }
});

test('the SDK\'s default streaming upload (aws-chunked with a CRC32 trailer) is checked too', async () => {
  const { Readable } = await import('node:stream');
  const data = randomBytes(3 * MiB + 1);
  const put = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'trailer', Body: Readable.from([data.subarray(0, MiB), data.subarray(MiB)]), ContentLength: data.length }));
  assert.is(put.ETag, `"${md5(data)}"`);
  assert.ok((await body(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'trailer' })))).equals(data));
});

test('virtual-host addressing: <bucket>.localhost reaches the bucket', async () => {
  const host = `photos.localhost:${port}`;
  const req = await signed(key, { method: 'GET', host, path: '/shared.txt', payloadHash: createHash('sha256').update('').digest('hex') });
  const res = await rawRequest(port, 'GET', req.target, req.headers);
  assert.is(res.status, 200, res.body.toString());
  assert.is(res.body.toString(), 'shared bytes');
  const list = await signed(key, { method: 'GET', host, path: '/', query: { 'list-type': '2', prefix: 'shared' }, payloadHash: createHash('sha256').update('').digest('hex') });
  const listed = await rawRequest(port, 'GET', list.target, list.headers);
  assert.match(listed.body.toString(), '<Key>shared.txt</Key>');
});

test('features the pool does not have answer NotImplemented, cleanly', async () => {
  for (const call of [
    () => s3.send(new GetBucketAclCommand({ Bucket: 'photos' })),
    () => s3.send(new PutBucketVersioningCommand({ Bucket: 'photos', VersioningConfiguration: { Status: 'Enabled' } })),
    () => s3.send(new GetObjectTaggingCommand({ Bucket: 'photos', Key: 'shared.txt' })),
  ]) {
    const f = await failure(call());
    assert.equal([f.code, f.status], ['NotImplemented', 501]);
  }
});

test('metrics and logs: requests counted by operation and code, bytes in and out, one log line per request', async () => {
  const text = await (await fetch(`${daemon.url}/metrics`)).text();
  assert.match(text, /dynamicfs_s3_requests_total\{operation="PutObject",code="OK"\} [1-9]/);
  assert.match(text, /dynamicfs_s3_requests_total\{operation="GetObject",code="NoSuchKey"\} [1-9]/);
  assert.match(text, /dynamicfs_s3_request_duration_seconds_bucket\{le="\+Inf",operation="GetObject"\} [1-9]/);
  const received = Number(/dynamicfs_s3_received_bytes_total (\d+)/.exec(text)?.[1]);
  assert.ok(received > 20 * MiB, `received ${received}`);
  assert.ok(Number(/dynamicfs_s3_sent_bytes_total (\d+)/.exec(text)?.[1]) > 10 * MiB);
  const lines = daemon.stderr().split('\n').filter((l) => l.includes('"s3 request"')).map((l) => JSON.parse(l) as { reqId?: string; operation?: string; status?: number });
  assert.ok(lines.some((l) => l.operation === 'CompleteMultipartUpload' && l.status === 200 && /^[0-9A-F]{16}$/.test(l.reqId ?? '')));
  assert.ok(lines.some((l) => l.operation === 'DeleteObjects'));
});

test.run();
