// Hostile input to the S3 listener, for a fixed budget of seeded cases:
// unsigned and garbled signatures, traversal-looking and oversize keys and
// bucket names, malformed percent escapes, broken aws-chunked framing, junk
// and entity-laden XML, absurd query values and headers. Every refusal is
// S3's XML error with a code and a 4xx status (501 only for NotImplemented),
// there is never a stack trace, the daemon stays up, and nothing is stored
// by a refused request or written outside the pool.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { ListObjectsV2Command, PutObjectCommand, CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { makePool, type TestPool } from '../helpers/cli.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { rawRequest, s3Client, signed, type S3Key } from '../helpers/s3.js';
import { prng } from '../reliability/crash-world.js';

const CASES = Number(process.env.DFS_FUZZ_S3_CASES ?? 300);
let pool: TestPool;
let daemon: RunningDaemon;
let key: S3Key;
let s3: S3Client;
let port: number;

test.before(async () => {
  pool = makePool({ disks: 6 });
  key = pool.run('s3-key', 'create', '--json').json as S3Key;
  daemon = await startDaemon(pool.pool, ['serve', '--log-level', 'error']);
  port = Number(new URL(daemon.s3Url!).port);
  s3 = s3Client(daemon.s3Url!, key);
  await s3.send(new CreateBucketCommand({ Bucket: 'hostile' }));
  await s3.send(new PutObjectCommand({ Bucket: 'hostile', Key: 'seed', Body: 'seed bytes' }));
});
test.after(async () => {
  s3?.destroy();
  await daemon?.stop('SIGKILL');
  pool?.cleanup();
});

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const PATHS = ['/../../etc/passwd', '/hostile/..%2F..%2Fetc%2Fpasswd', '/hostile/%2e%2e/%2e%2e/x', '/%00/', `/${'b'.repeat(300)}`, `/hostile/${'k'.repeat(1500)}`, '/hostile/%E0%A4%A', '/hostile/a%', '/UPPER/x', '/hostile//x', '/-bad-/x', '/hostile/seed'];
const XML = [
  '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><Delete><Object><Key>&b;</Key></Object></Delete>',
  '<Delete><Object><Key>x</Key></Object>', 'not xml at all', '', '<Delete></Delete>',
  `<Delete>${'<Object><Key>k</Key></Object>'.repeat(1001)}</Delete>`, '<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>',
];
const QUERIES: Record<string, string>[] = [
  { 'list-type': '2', 'max-keys': '-1' }, { 'list-type': '2', 'continuation-token': '!!!' }, { 'list-type': '2', 'continuation-token': 'eHl6' }, { 'encoding-type': 'base64' },
  { versions: '', 'version-id-marker': 'v1' }, { uploads: '', 'max-uploads': 'many' }, { 'max-keys': '99999999999' }, { acl: '' }, { policy: '' }, { lifecycle: '' },
];

interface Case { method: string; target: string; headers: Record<string, string>; body?: Buffer | string; stored?: string }

async function generate(random: () => number): Promise<Case> {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const host = `127.0.0.1:${port}`;
  const sign = async (method: string, path: string, options: { query?: Record<string, string>; headers?: Record<string, string>; body?: Buffer | string; payloadHash?: string } = {}) => {
    const s = await signed(key, { method, host, path, ...options, payloadHash: options.payloadHash ?? sha(options.body ?? '') });
    return { method, target: s.target, headers: s.headers, ...(options.body !== undefined ? { body: options.body } : {}) };
  };
  switch (Math.floor(random() * 11)) {
    case 0: return { method: pick(['GET', 'PUT', 'DELETE', 'HEAD', 'POST']), target: pick(PATHS), headers: { host } };
    case 1: return {
      method: 'GET', target: '/hostile?list-type=2', headers: {
        host, 'x-amz-content-sha256': sha(''), 'x-amz-date': '20261202T000000Z',
        authorization: pick(['AWS4-HMAC-SHA256 Credential=x', 'AWS4-HMAC-SHA256 ', 'AWS abc:def', `AWS4-HMAC-SHA256 Credential=${key.accessKeyId}/2026/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00`, 'Bearer x', '\u00ff\u00fe']),
      },
    };
    case 2: return sign(pick(['GET', 'PUT', 'DELETE', 'HEAD']), pick(PATHS), { body: 'x' });
    case 3: {
      // A body that does not match its signed hash: refused, and nothing stored.
      const name = `mismatch-${Math.floor(random() * 1e9)}`;
      const c = await sign('PUT', `/hostile/${name}`, { body: 'the body', payloadHash: sha('another body') });
      return { ...c, stored: name };
    }
    case 4: return sign('POST', '/hostile', { query: { delete: '' }, body: pick(XML) });
    case 5: return sign('POST', '/hostile/k', { query: { uploadId: pick(['junk', '0'.repeat(32), '%00']) }, body: pick(XML) });
    case 6: {
      // aws-chunked framing broken in one of several ways.
      const name = `chunked-${Math.floor(random() * 1e9)}`;
      const body = pick(['zz;chunk-signature=00\r\nabc\r\n', '5;chunk-signature=' + '0'.repeat(64) + '\r\nab', '3\r\nabc\r\n0\r\n\r\n', `${'f'.repeat(20)};chunk-signature=${'0'.repeat(64)}\r\n`]);
      const c = await sign('PUT', `/hostile/${name}`, { body, payloadHash: pick(['STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'STREAMING-NONSENSE']), headers: { 'x-amz-decoded-content-length': pick(['3', '-1', 'abc', '99999999999999']) } });
      return { ...c, stored: name };
    }
    case 7: return sign('GET', '/hostile', { query: pick(QUERIES) });
    case 8: return sign('GET', '/hostile/seed', { headers: { range: pick(['bytes=5-1', 'bytes=999-', 'bytes=-0', 'chars=1-2', 'bytes=1-2,4-5', 'bytes=' + '9'.repeat(40) + '-']), 'if-modified-since': pick(['yesterday', '', 'Mon, 99 Foo 2020']) } });
    case 9: return sign('PUT', '/hostile/part', { query: { partNumber: pick(['0', '10001', '-1', 'x', '1.5']), uploadId: '0'.repeat(32) }, body: 'x' });
    default: return sign('PUT', '/hostile/meta', { headers: { 'x-amz-meta-big': 'm'.repeat(3000), 'x-amz-copy-source': pick(['', '/', 'nobucket', '/hostile/', '%zz', '/hostile/seed?versionId=7']) }, body: 'x' });
  }
}

test(`S3: ${CASES} hostile requests get S3's XML errors with 4xx codes, never a 5xx or a stack trace; nothing refused is stored`, async () => {
  const random = prng(31337);
  const statuses = new Map<number, number>();
  const refusedNames: string[] = [];
  for (let i = 0; i < CASES; i++) {
    const c = await generate(random);
    const res = await rawRequest(port, c.method, c.target, c.headers, c.body).catch((e: Error) => ({ status: -1, headers: {}, body: Buffer.from(e.message) }));
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    const text = res.body.toString('utf8');
    const what = `${c.method} ${c.target.slice(0, 100)} → ${res.status} ${text.slice(0, 300)}`;
    assert.ok(res.status > 0, `no answer: ${what}`);
    assert.ok(res.status < 500 || (res.status === 501 && text.includes('<Code>NotImplemented</Code>')), `server error: ${what}`);
    if (res.status >= 400 && c.method !== 'HEAD' && res.status !== 431) assert.match(text, /<Error><Code>[A-Za-z0-9]+<\/Code>/, `refusal without an S3 error: ${what}`);
    assert.not.match(text, /\n\s+at .+:\d+:\d+/, `stack trace: ${what}`);
    if (c.stored && res.status >= 400) refusedNames.push(c.stored);
  }
  assert.ok(statuses.size >= 4, `the cases reached several refusals: ${JSON.stringify([...statuses])}`);
  assert.ok(refusedNames.length > 5, 'some bodies were refused');
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'hostile' }));
  const keys = (listed.Contents ?? []).map((o) => o.Key!);
  for (const name of refusedNames) assert.not.ok(keys.includes(name), `${name} was refused but stored`);
  assert.is(daemon.child.exitCode, null, 'the daemon is still running');
  assert.is((await fetch(`${daemon.url}/health`)).status, 200);
  assert.equal(readdirSync(pool.root).sort(), ['disk1', 'disk2', 'disk3', 'disk4', 'disk5', 'disk6', 'pool']);
});

test.run();
