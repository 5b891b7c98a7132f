// AWS Signature Version 4, as S3 checks it: in the Authorization header, in
// a presigned URL's query, and chunk by chunk for streaming uploads
// (chunked.ts). The canonical request is rebuilt from what arrived (path and
// query decoded, then encoded the AWS way), signed with the secret of the
// access key named in the credential scope, and compared in constant time.
// Requests more than 15 minutes off the server's clock are refused, as are
// presigned URLs past their expiry. There is no anonymous access.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { s3Error } from './errors.js';

export const MAX_SKEW_MS = 15 * 60 * 1000;
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
const ALGORITHM = 'AWS4-HMAC-SHA256';
export const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');
export const UNSIGNED = 'UNSIGNED-PAYLOAD';

export interface IncomingSigned {
  method: string;
  /** The request target as sent: path and query, still percent-encoded. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

/** What a verified request leaves for the body's checks. */
export interface Verified {
  accessKeyId: string;
  /** x-amz-content-sha256 (a hex digest, UNSIGNED-PAYLOAD or a STREAMING-* mode). */
  payloadHash: string;
  amzDate: string;
  scope: string;
  signingKey: Buffer;
  /** The request's signature: the seed of a streaming upload's chunk signatures. */
  signature: string;
}

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

/** Percent-encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ (and `/` in a path). */
export function awsEncode(text: string, keepSlash: boolean): string {
  const encoded = encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return keepSlash ? encoded.replace(/%2F/g, '/') : encoded;
}

/** decodeURIComponent that answers a malformed escape with S3's error instead of throwing a URIError. */
export function decodeComponent(text: string, plusIsSpace = false): string {
  try {
    return decodeURIComponent(plusIsSpace ? text.replace(/\+/g, ' ') : text);
  } catch {
    throw s3Error('InvalidArgument', 'the request target has a malformed percent escape');
  }
}

/** The query's name/value pairs, decoded, in order of arrival. */
export function parseQuery(raw: string): [string, string][] {
  if (raw === '') return [];
  return raw.split('&').filter((p) => p !== '').map((pair) => {
    const eq = pair.indexOf('=');
    return eq < 0 ? [decodeComponent(pair, true), ''] : [decodeComponent(pair.slice(0, eq), true), decodeComponent(pair.slice(eq + 1), true)];
  });
}

function header(headers: IncomingSigned['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** Signing keys by secret and scope: a key is the same for every request of its day (four HMACs saved on each). */
const signingKeys = new Map<string, Buffer>();
const MAX_SIGNING_KEYS = 256;

/** The signing key of a secret for a day, region and service (read-only: it is shared between requests). */
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const id = `${date}\n${region}\n${service}\n${secret}`;
  let key = signingKeys.get(id);
  if (!key) {
    key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
    if (signingKeys.size >= MAX_SIGNING_KEYS) signingKeys.clear();
    signingKeys.set(id, key);
  }
  return key;
}

export function sameSignature(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  // Compared in constant time whatever the content; lengths differ only for malformed input.
  return x.length === y.length && timingSafeEqual(x, y);
}

function canonicalRequest(req: IncomingSigned, path: string, query: [string, string][], signedHeaders: string[], payloadHash: string): string {
  const canonicalQuery = query
    .map(([k, v]) => [awsEncode(k, false), awsEncode(v, false)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = signedHeaders.map((name) => `${name}:${(header(req.headers, name) ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonicalPath = awsEncode(decodeComponent(path), true);
  return [req.method, canonicalPath, canonicalQuery, canonicalHeaders, signedHeaders.join(';'), payloadHash].join('\n');
}

/** yyyymmddThhmmssZ to ms since the epoch, or NaN. */
function amzTime(text: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : NaN;
}

interface Credential {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

function parseCredential(text: string, region: string): Credential {
  const parts = text.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1]!)) {
    throw s3Error('AuthorizationHeaderMalformed', `the credential "${text.slice(0, 120)}" is not of the form KEY/DATE/REGION/s3/aws4_request`);
  }
  const [accessKeyId, date, r, service] = parts as [string, string, string, string];
  if (service !== 's3') throw s3Error('AuthorizationHeaderMalformed', `the credential's service is "${service.slice(0, 40)}"; this is s3`);
  if (r !== region) throw s3Error('AuthorizationHeaderMalformed', `the authorization header is malformed; the region '${r.slice(0, 40)}' is wrong; expecting '${region}'`, { Region: region });
  return { accessKeyId, date, region: r, service };
}

/**
 * Checks a request's signature; returns what the body's checks need. Throws
 * S3 errors: AccessDenied (no signature, or an expired URL),
 * InvalidAccessKeyId, SignatureDoesNotMatch, RequestTimeTooSkewed,
 * AuthorizationHeaderMalformed.
 */
export function verifyRequest(req: IncomingSigned, secretOf: (accessKeyId: string) => string | null, options: { region: string; now?: number }): Verified {
  const now = options.now ?? Date.now();
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  const query = parseQuery(q < 0 ? '' : req.url.slice(q + 1));
  const authorization = header(req.headers, 'authorization');
  const queryValue = (name: string) => query.find(([k]) => k === name)?.[1];

  let credential: Credential;
  let signedHeaders: string[];
  let signature: string;
  let amzDate: string;
  let payloadHash: string;
  let signedQuery = query;
  if (authorization !== undefined) {
    if (!authorization.startsWith(`${ALGORITHM} `)) {
      throw s3Error(authorization.startsWith('AWS ') ? 'InvalidRequest' : 'AuthorizationHeaderMalformed', `only ${ALGORITHM} (Signature Version 4) is supported`);
    }
    const fields = new Map(authorization.slice(ALGORITHM.length + 1).split(',').map((f) => {
      const eq = f.indexOf('=');
      return [f.slice(0, eq).trim(), f.slice(eq + 1).trim()] as [string, string];
    }));
    const c = fields.get('Credential');
    const sh = fields.get('SignedHeaders');
    const sig = fields.get('Signature');
    if (!c || !sh || !sig) throw s3Error('AuthorizationHeaderMalformed', 'the authorization header needs Credential, SignedHeaders and Signature');
    credential = parseCredential(c, options.region);
    signedHeaders = sh.split(';');
    signature = sig;
    amzDate = header(req.headers, 'x-amz-date') ?? '';
    if (!amzDate) {
      const date = Date.parse(header(req.headers, 'date') ?? '');
      if (!Number.isFinite(date)) throw s3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
      amzDate = new Date(date).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    }
    payloadHash = header(req.headers, 'x-amz-content-sha256') ?? '';
    if (!payloadHash) throw s3Error('InvalidRequest', 'missing required header for this request: x-amz-content-sha256');
    const time = amzTime(amzDate);
    if (!Number.isFinite(time)) throw s3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
    if (Math.abs(now - time) > MAX_SKEW_MS) {
      throw s3Error('RequestTimeTooSkewed', undefined, { RequestTime: amzDate, ServerTime: new Date(now).toISOString(), MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS) });
    }
  } else if (queryValue('X-Amz-Algorithm') !== undefined) {
    if (queryValue('X-Amz-Algorithm') !== ALGORITHM) throw s3Error('AuthorizationQueryParametersError');
    const c = queryValue('X-Amz-Credential');
    const sh = queryValue('X-Amz-SignedHeaders');
    const sig = queryValue('X-Amz-Signature');
    amzDate = queryValue('X-Amz-Date') ?? '';
    const expires = Number(queryValue('X-Amz-Expires'));
    if (!c || !sh || !sig || !amzDate || !Number.isInteger(expires)) {
      throw s3Error('AccessDenied', 'a presigned URL needs X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature');
    }
    if (expires < 1 || expires > MAX_PRESIGN_SECONDS) throw s3Error('AccessDenied', `X-Amz-Expires must be from 1 to ${MAX_PRESIGN_SECONDS} seconds`);
    credential = parseCredential(c, options.region);
    signedHeaders = sh.split(';');
    signature = sig;
    const time = amzTime(amzDate);
    if (!Number.isFinite(time)) throw s3Error('AccessDenied', 'X-Amz-Date is not a valid date');
    if (time - now > MAX_SKEW_MS) throw s3Error('AccessDenied', 'Request is not valid yet');
    if (now > time + expires * 1000) throw s3Error('AccessDenied', 'Request has expired', { Expires: new Date(time + expires * 1000).toISOString(), ServerTime: new Date(now).toISOString() });
    payloadHash = queryValue('X-Amz-Content-Sha256') ?? UNSIGNED;
    signedQuery = query.filter(([k]) => k !== 'X-Amz-Signature');
  } else {
    throw s3Error('AccessDenied', 'Access Denied: every request must be signed (AWS Signature Version 4)');
  }
  if (!signedHeaders.includes('host')) throw s3Error('AuthorizationHeaderMalformed', 'the signed headers must include host');
  if (credential.date !== amzDate.slice(0, 8)) throw s3Error('AuthorizationHeaderMalformed', 'the credential date does not match the request date');
  const secret = secretOf(credential.accessKeyId);
  if (secret === null) throw s3Error('InvalidAccessKeyId');
  const scope = `${credential.date}/${credential.region}/${credential.service}/aws4_request`;
  const canonical = canonicalRequest(req, path, signedQuery, signedHeaders, payloadHash);
  const stringToSign = [ALGORITHM, amzDate, scope, sha256(canonical)].join('\n');
  const key = signingKey(secret, credential.date, credential.region, credential.service);
  const expected = hmac(key, stringToSign).toString('hex');
  if (!sameSignature(expected, signature)) throw s3Error('SignatureDoesNotMatch');
  return { accessKeyId: credential.accessKeyId, payloadHash, amzDate, scope, signingKey: key, signature };
}

/** A streaming upload's chunk signature (the previous one chains them). */
export function chunkSignature(v: Pick<Verified, 'amzDate' | 'scope' | 'signingKey'>, previous: string, chunkHash: string): string {
  return hmac(v.signingKey, ['AWS4-HMAC-SHA256-PAYLOAD', v.amzDate, v.scope, previous, EMPTY_SHA256, chunkHash].join('\n')).toString('hex');
}

/** The signature of a streaming upload's trailing headers. */
export function trailerSignature(v: Pick<Verified, 'amzDate' | 'scope' | 'signingKey'>, previous: string, trailer: string): string {
  return hmac(v.signingKey, ['AWS4-HMAC-SHA256-TRAILER', v.amzDate, v.scope, previous, sha256(trailer)].join('\n')).toString('hex');
}
