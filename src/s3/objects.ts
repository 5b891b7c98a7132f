// Object operations: PutObject, GetObject and HeadObject (ranges,
// conditions, response-* overrides), DeleteObject and CopyObject. Every
// write goes through the engine's put (checked digests first: a mismatch
// stores nothing); every read through its verified read path.
import { DfsError } from '../errors.js';
import type { ObjectRow } from '../catalog/index.js';
import { chunkSource, deleteObject, putObject, readObject, sendChunks, type PutOptions } from '../store/index.js';
import { s3Error } from './errors.js';
import { BodyDigests, OFFLOAD_BYTES } from './checksums.js';
import { checkDigests, requestBody } from './body.js';
import {
  attributeHeaders, attributesFromHeaders, attributesOf, etagOf, header, headersFor, httpDate, isoDate, MAX_PUT_BYTES, poolKey, requireBucket, sendEmpty, sendXml,
  type ObjectAttributes, type S3Context, type S3Request,
} from './context.js';
import { decodeComponent } from './sigv4.js';

/** What a stored body was: its length, its MD5 (hex) and the checksums kept with it. */
export interface StoredBody {
  size: number;
  md5: string;
  checksums: Record<string, string>;
}

/** How a body is stored: the put's options, and what else must be committed with the object. */
export type StoreOptions = Pick<PutOptions, 'internal' | 'expectReplace' | 'partOf'> & {
  /** Runs in the transaction that commits the object, with what was stored (PutOptions.duringCommit). */
  duringCommit?: (stored: StoredBody) => void;
};

/** Stores a request body as `key`, with the request's attributes; the S3 answer's headers. */
export async function storeBody(ctx: S3Context, r: S3Request, key: string, attributes: ObjectAttributes, options: StoreOptions = {}) {
  const body = requestBody(r.req, r.verified, MAX_PUT_BYTES, { offload: true });
  let digests: Awaited<ReturnType<typeof checkDigests>> | null = null;
  const { duringCommit, ...put } = options;
  const putOptions: PutOptions = {
    ...put,
    ...(body.digests.offloaded ? { onExtent: (bytes: Uint8Array) => body.digests.feed(bytes) } : {}),
    beforeCommit: async () => {
      digests = await checkDigests(r.req, r.verified, body);
      const kept: ObjectAttributes = { ...attributes, etag: digests.md5 };
      if (Object.keys(digests.checksums).length > 0) kept.checksums = digests.checksums;
      return JSON.stringify(kept);
    },
    ...(duringCommit ? { duringCommit: () => duringCommit({ size: body.digests.bytes, md5: digests!.md5, checksums: digests!.checksums }) } : {}),
  };
  try {
    await putObject(ctx.engine, chunkSource(body.chunks, body.length), key, putOptions);
  } catch (error) {
    body.digests.drop();
    throw error;
  } finally {
    r.bytesIn += body.digests.bytes;
  }
  const d = digests as Awaited<ReturnType<typeof checkDigests>> | null;
  if (!d) throw s3Error('InternalError');
  const headers: Record<string, string> = { etag: `"${d.md5}"` };
  for (const [algorithm, value] of Object.entries(d.checksums)) headers[`x-amz-checksum-${algorithm}`] = value;
  return { headers, md5: d.md5, md5Bytes: d.md5Bytes, size: body.digests.bytes, checksums: d.checksums };
}

export async function putObjectOp(ctx: S3Context, r: S3Request): Promise<void> {
  const bucket = requireBucket(ctx, r);
  const key = poolKey(bucket, r.key!);
  const attributes = attributesFromHeaders(r.req);
  // If-None-Match: * writes only if there is no object yet (S3's conditional write).
  const ifNoneMatch = header(r.req, 'if-none-match');
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') throw s3Error('NotImplemented', 'If-None-Match on PUT takes only *');
  try {
    const stored = await storeBody(ctx, r, key, attributes, ifNoneMatch !== undefined ? { expectReplace: null } : {});
    sendEmpty(r, 200, stored.headers);
  } catch (error) {
    if (error instanceof DfsError && error.code === 'DFS_ERR_OBJECT_CHANGED') throw s3Error('PreconditionFailed', 'an object of that key exists (If-None-Match: *)', { Condition: 'If-None-Match' });
    throw error;
  }
}

function lookup(ctx: S3Context, key: string): ObjectRow {
  const object = ctx.engine.catalog.object(key);
  if (!object) throw s3Error('NoSuchKey', undefined, { Key: key.slice(key.indexOf('/') + 1) });
  return object;
}

/** An entity tag list (If-Match, If-None-Match) holds the object's tag, or `*`. */
function tagMatches(list: string, etag: string): boolean {
  return list.split(',').map((t) => t.trim()).some((t) => t === '*' || t === etag || t === etag.slice(1, -1) || t === `W/${etag}`);
}

/**
 * HTTP's conditional request rules as S3 applies them: If-Match and
 * If-Unmodified-Since (412), If-None-Match and If-Modified-Since (304 for
 * GET and HEAD). `prefix` reads the copy-source variants.
 */
export function checkConditions(r: S3Request, etag: string, modifiedMs: number, prefix = ''): 'ok' | 'not-modified' {
  const h = (name: string) => header(r.req, `${prefix}${name}`);
  const modified = Math.floor(modifiedMs / 1000) * 1000;
  const ifMatch = h('if-match');
  const ifNoneMatch = h('if-none-match');
  const since = Date.parse(h('if-modified-since') ?? '');
  const unmodifiedSince = Date.parse(h('if-unmodified-since') ?? '');
  if (ifMatch !== undefined) {
    if (!tagMatches(ifMatch, etag)) throw s3Error('PreconditionFailed', undefined, { Condition: `${prefix}If-Match` });
  } else if (Number.isFinite(unmodifiedSince) && modified > unmodifiedSince) {
    throw s3Error('PreconditionFailed', undefined, { Condition: `${prefix}If-Unmodified-Since` });
  }
  if (ifNoneMatch !== undefined) {
    if (tagMatches(ifNoneMatch, etag)) {
      if (prefix) throw s3Error('PreconditionFailed', undefined, { Condition: `${prefix}If-None-Match` });
      return 'not-modified';
    }
  } else if (Number.isFinite(since) && modified <= since) {
    if (prefix) throw s3Error('PreconditionFailed', undefined, { Condition: `${prefix}If-Modified-Since` });
    return 'not-modified';
  }
  return 'ok';
}

/** A single byte range of `size` ([start, end)), null for the whole object; InvalidRange when it cannot be met. */
export function parseRange(text: string | undefined, size: number): { start: number; end: number } | null {
  if (text === undefined) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(text.trim());
  // Several ranges, or another unit: the whole object, as HTTP allows.
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) throw s3Error('InvalidRange', undefined, { ActualObjectSize: String(size), RangeRequested: text.slice(0, 100) });
    return { start: Math.max(0, size - n), end: size };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || last < start) throw s3Error('InvalidRange', undefined, { ActualObjectSize: String(size), RangeRequested: text.slice(0, 100) });
  return { start, end: last + 1 };
}

const OVERRIDES: Record<string, string> = {
  'response-content-type': 'content-type', 'response-content-language': 'content-language', 'response-expires': 'expires',
  'response-cache-control': 'cache-control', 'response-content-disposition': 'content-disposition', 'response-content-encoding': 'content-encoding',
};

export async function getObjectOp(ctx: S3Context, r: S3Request, head: boolean): Promise<void> {
  const bucket = requireBucket(ctx, r);
  const object = lookup(ctx, poolKey(bucket, r.key!));
  const attributes = attributesOf(ctx, object);
  const etag = etagOf(attributes, object);
  const headers: Record<string, string | number> = {
    ...attributeHeaders(attributes), etag, 'last-modified': httpDate(object.createdAt), 'accept-ranges': 'bytes',
  };
  if (checkConditions(r, etag, object.createdAt) === 'not-modified') {
    r.res.writeHead(304, headersFor(r, { etag, 'last-modified': httpDate(object.createdAt) }));
    r.res.end();
    return;
  }
  for (const [param, name] of Object.entries(OVERRIDES)) {
    const v = r.query.get(param);
    if (v !== undefined) headers[name] = v;
  }
  const range = parseRange(header(r.req, 'range'), object.size);
  // A whole object's checksums, when the client asks for them (a range has none of its own).
  if (!range && header(r.req, 'x-amz-checksum-mode')?.toUpperCase() === 'ENABLED') {
    for (const [algorithm, value] of Object.entries(attributes.checksums ?? {})) headers[`x-amz-checksum-${algorithm}`] = value;
  }
  const length = range ? range.end - range.start : object.size;
  headers['content-length'] = length;
  if (range) headers['content-range'] = `bytes ${range.start}-${range.end - 1}/${object.size}`;
  const status = range ? 206 : 200;
  if (head || length === 0) {
    r.res.writeHead(status, headersFor(r, headers));
    r.res.end();
    return;
  }
  const chunks = readObject(ctx.engine, object, range ?? undefined);
  // The first extent is read before the status line goes out: a failure there is a plain error answer.
  const first = await chunks.next();
  r.res.writeHead(status, headersFor(r, headers));
  const failed = await sendChunks(r.res, chunks, first, (n) => (r.bytesOut += n));
  if (failed) r.log.error({ key: object.key, err: failed.message }, 'read failed after the response began; connection cut');
}

export async function deleteObjectOp(ctx: S3Context, r: S3Request): Promise<void> {
  const bucket = requireBucket(ctx, r);
  await deleteQuietly(ctx, poolKey(bucket, r.key!));
  sendEmpty(r, 204);
}

/** Deletes a key; one that is not there is not an error (S3's DELETE is idempotent). */
export async function deleteQuietly(ctx: S3Context, key: string): Promise<void> {
  try {
    await deleteObject(ctx.engine, key);
  } catch (error) {
    if (!(error instanceof DfsError && error.code === 'DFS_ERR_OBJECT_NOT_FOUND')) throw error;
  }
}

/** The object an x-amz-copy-source header names (it must exist), and its attributes. */
export function copySource(ctx: S3Context, r: S3Request): { object: ObjectRow; attributes: ObjectAttributes; etag: string } {
  const raw = header(r.req, 'x-amz-copy-source')!;
  let text = raw;
  const q = text.indexOf('?');
  if (q >= 0) {
    const version = /(?:^|&)versionId=([^&]*)/.exec(text.slice(q + 1))?.[1];
    if (version !== undefined && version !== 'null') throw s3Error('InvalidArgument', 'this pool keeps no versions: the only version id is null');
    text = text.slice(0, q);
  }
  text = decodeComponent(text);
  if (text.startsWith('/')) text = text.slice(1);
  const slash = text.indexOf('/');
  if (slash <= 0 || slash === text.length - 1) throw s3Error('InvalidArgument', 'x-amz-copy-source must be BUCKET/KEY', { ArgumentName: 'x-amz-copy-source' });
  const bucket = text.slice(0, slash);
  if (!ctx.engine.catalog.bucket(bucket)) throw s3Error('NoSuchBucket', undefined, { BucketName: bucket.slice(0, 100) });
  const object = lookup(ctx, poolKey(bucket, text.slice(slash + 1)));
  const attributes = attributesOf(ctx, object);
  const etag = etagOf(attributes, object);
  checkConditions(r, etag, object.createdAt, 'x-amz-copy-source-');
  return { object, attributes, etag };
}

/** Copies `range` of an object into `key` (MD5 computed on the way); its MD5 in hex. */
export async function copyBytes(
  ctx: S3Context, object: ObjectRow, range: { start: number; end: number } | null, key: string, attributes: ObjectAttributes, options: Omit<StoreOptions, 'expectReplace'> = {},
): Promise<{ md5: string; md5Bytes: Buffer; size: number }> {
  const digests = new BodyDigests({ offload: (range ? range.end - range.start : object.size) >= OFFLOAD_BYTES });
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for await (const chunk of readObject(ctx.engine, object, range ?? undefined)) {
      digests.update(chunk);
      yield chunk;
    }
  }
  let md5Bytes: Buffer = Buffer.alloc(0);
  const { duringCommit, ...put } = options;
  try {
    await putObject(ctx.engine, chunkSource(chunks(), range ? range.end - range.start : object.size), key, {
      ...put,
      ...(digests.offloaded ? { onExtent: (bytes: Uint8Array) => digests.feed(bytes) } : {}),
      beforeCommit: async () => {
        md5Bytes = (await digests.finish()).md5;
        return JSON.stringify({ ...attributes, etag: md5Bytes.toString('hex') });
      },
      ...(duringCommit ? { duringCommit: () => duringCommit({ size: digests.bytes, md5: md5Bytes.toString('hex'), checksums: {} }) } : {}),
    });
  } catch (error) {
    digests.drop();
    throw error;
  }
  return { md5: md5Bytes.toString('hex'), md5Bytes, size: digests.bytes };
}

export async function copyObjectOp(ctx: S3Context, r: S3Request): Promise<void> {
  const bucket = requireBucket(ctx, r);
  const key = poolKey(bucket, r.key!);
  const source = copySource(ctx, r);
  const directive = (header(r.req, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw s3Error('InvalidArgument', 'x-amz-metadata-directive must be COPY or REPLACE', { ArgumentName: 'x-amz-metadata-directive' });
  if (source.object.key === key && directive === 'COPY') {
    throw s3Error('InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.');
  }
  const { etag: _etag, checksums: _checksums, ...kept } = source.attributes;
  const attributes = directive === 'REPLACE' ? attributesFromHeaders(r.req) : kept;
  const copied = await copyBytes(ctx, source.object, null, key, attributes);
  const object = ctx.engine.catalog.object(key);
  sendXml(r, 200, 'CopyObjectResult', { LastModified: isoDate(object?.createdAt ?? Date.now()), ETag: `"${copied.md5}"` });
}
