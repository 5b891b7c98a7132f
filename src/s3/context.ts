// What every S3 handler gets: the engine and settings (S3Context), and the
// request being served with its bucket, key, query and verified signature
// (S3Request), plus the helpers they share: bucket and key checks, object
// attributes, and the answers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log/index.js';
import { bucketObjectKey, type Engine } from '../store/index.js';
import type { ObjectRow } from '../catalog/index.js';
import { s3Error } from './errors.js';
import type { KeyStore } from './credentials.js';
import type { Verified } from './sigv4.js';
import { xmlDocument, type XmlNode } from './xml.js';

/** S3's limit on a single PUT (and on one part): 5 GiB. */
export const MAX_PUT_BYTES = 5 * 1024 ** 3;
/** A key under its bucket: at most 1,024 bytes of UTF-8. */
export const MAX_S3_KEY_BYTES = 1024;
/** User metadata (names and values of x-amz-meta-*): at most 2 KiB, as S3. */
export const MAX_USER_META_BYTES = 2048;
export const OWNER = { ID: 'dynamicfs', DisplayName: 'dynamicfs' };

export interface S3Context {
  engine: Engine;
  keys: KeyStore;
  region: string;
  domains: string[];
}

export interface S3Request {
  req: IncomingMessage;
  res: ServerResponse;
  id: string;
  bucket: string | null;
  /** The key under the bucket, decoded (null: none in the path). */
  key: string | null;
  query: Map<string, string>;
  verified: Verified;
  log: Logger;
  bytesIn: number;
  bytesOut: number;
}

/** The standard headers S3 keeps with an object and sends back. */
export const STORED_HEADERS = ['cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires'] as const;

/** What the pool keeps beside an object written through S3 (object_meta). */
export interface ObjectAttributes {
  /** MD5 of the content (hex), or `<md5 of the parts' MD5s>-N` for a multipart upload. */
  etag?: string;
  contentType?: string;
  headers?: Record<string, string>;
  user?: Record<string, string>;
  checksums?: Record<string, string>;
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** S3's bucket naming rules (the general-purpose ones). */
export function checkBucketName(name: string): string {
  const ok = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name)
    && !name.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(name)
    && !name.startsWith('xn--') && !name.startsWith('sthree-') && !name.endsWith('-s3alias') && !name.endsWith('--ol-s3');
  if (!ok) throw s3Error('InvalidBucketName', undefined, { BucketName: name.slice(0, 100) });
  return name;
}

/** The bucket of the request, which must exist. */
export function requireBucket(ctx: S3Context, r: S3Request): string {
  const name = r.bucket!;
  if (!ctx.engine.catalog.bucket(name)) throw s3Error('NoSuchBucket', undefined, { BucketName: name });
  return name;
}

/** The pool's key for a key of a bucket: "<bucket>/<key>". */
export function poolKey(bucket: string, key: string): string {
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes === 0) throw s3Error('InvalidArgument', 'the key is empty');
  if (bytes > MAX_S3_KEY_BYTES) throw s3Error('KeyTooLongError', undefined, { Size: String(bytes), MaxSizeAllowed: String(MAX_S3_KEY_BYTES) });
  if (key.includes('\0')) throw s3Error('InvalidArgument', 'the key contains NUL');
  return bucketObjectKey(bucket, key);
}

/** Attributes from their JSON text (none for null, or for a text that does not parse). */
export function parseAttributes(text: string | null): ObjectAttributes {
  if (text === null) return {};
  try {
    return JSON.parse(text) as ObjectAttributes;
  } catch {
    return {};
  }
}

export function attributesOf(ctx: S3Context, object: ObjectRow): ObjectAttributes {
  return parseAttributes(ctx.engine.catalog.objectMeta(object.id));
}

/** The ETag of an object: its MD5 for objects written through S3, else the pool's checksum (not an MD5, and shaped so that no client takes it for one). */
export function etagOf(attributes: ObjectAttributes, object: ObjectRow): string {
  return `"${attributes.etag ?? object.checksum}"`;
}

/** Content type, standard headers and user metadata from a request's headers. */
export function attributesFromHeaders(req: IncomingMessage): ObjectAttributes {
  const out: ObjectAttributes = {};
  const contentType = header(req, 'content-type');
  if (contentType) out.contentType = contentType;
  const headers: Record<string, string> = {};
  for (const name of STORED_HEADERS) {
    const v = header(req, name);
    // aws-chunked is how the body travelled, not how the object is encoded.
    const value = name === 'content-encoding' && v ? v.split(',').map((s) => s.trim()).filter((s) => s !== 'aws-chunked').join(', ') : v;
    if (value) headers[name] = value;
  }
  if (Object.keys(headers).length > 0) out.headers = headers;
  const user: Record<string, string> = {};
  let bytes = 0;
  for (const [name, value] of Object.entries(req.headers)) {
    if (!name.startsWith('x-amz-meta-') || value === undefined) continue;
    const v = Array.isArray(value) ? value.join(',') : value;
    const n = name.slice('x-amz-meta-'.length);
    bytes += n.length + Buffer.byteLength(v, 'utf8');
    user[n] = v;
  }
  if (bytes > MAX_USER_META_BYTES) throw s3Error('MetadataTooLarge', undefined, { Size: String(bytes), MaxSizeAllowed: String(MAX_USER_META_BYTES) });
  if (Object.keys(user).length > 0) out.user = user;
  return out;
}

/** The response headers of an object's attributes. */
export function attributeHeaders(attributes: ObjectAttributes): Record<string, string> {
  const out: Record<string, string> = { 'content-type': attributes.contentType ?? 'binary/octet-stream', ...attributes.headers };
  for (const [name, value] of Object.entries(attributes.user ?? {})) out[`x-amz-meta-${name}`] = value;
  return out;
}

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

export function isoDate(ms: number): string {
  return new Date(ms).toISOString();
}

function common(r: S3Request, headers: Record<string, string | number>): Record<string, string | number> {
  return { 'x-amz-request-id': r.id, 'x-amz-id-2': r.id, server: 'DynamicFS', ...headers };
}

export function sendXml(r: S3Request, status: number, root: string, children: XmlNode | string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(xmlDocument(root, children), 'utf8');
  r.res.writeHead(status, common(r, { 'content-type': 'application/xml', 'content-length': body.length, ...headers }));
  r.res.end(body);
  r.bytesOut += body.length;
}

export function sendEmpty(r: S3Request, status: number, headers: Record<string, string | number> = {}): void {
  r.res.writeHead(status, common(r, { 'content-length': 0, ...headers }));
  r.res.end();
}

export function headersFor(r: S3Request, headers: Record<string, string | number>): Record<string, string | number> {
  return common(r, headers);
}
