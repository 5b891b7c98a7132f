// Signing keys: derived as AWS's documentation derives its example, kept per
// secret and scope, and never handed to a request of another secret or day.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHmac } from 'node:crypto';
import { signingKey } from '../../src/s3/sigv4.js';

const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
const derived = (secret: string, date: string, region: string, service: string) => hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');

test("the signing key of AWS's documented example", () => {
  // "Examples of how to derive a signing key for Signature Version 4" in AWS's documentation.
  const key = signingKey('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20120215', 'us-east-1', 'iam');
  assert.is(key.toString('hex'), 'f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d');
});

test('a kept signing key is the one its secret and scope derive, whatever came between', () => {
  const scopes: [string, string, string, string][] = [];
  // More than are kept at once, so that some are derived again after the cache is emptied.
  for (let i = 0; i < 600; i++) scopes.push([`secret-${i % 7}`, `2026120${i % 9}`, i % 2 ? 'us-east-1' : 'eu-west-1', i % 3 ? 's3' : 'iam']);
  for (let pass = 0; pass < 2; pass++) {
    for (const s of scopes) assert.ok(signingKey(...s).equals(derived(...s)), s.join(' '));
  }
  // A secret that differs by one character gets its own key.
  assert.not.ok(signingKey('secret-1', '20261201', 'us-east-1', 's3').equals(signingKey('secret-2', '20261201', 'us-east-1', 's3')));
});

test.run();
