// Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort,
// ListParts and ListMultipartUploads. Parts are hidden objects of the pool
// (src/store/uploads.ts), each verified and scrubbed like any object, written
// under the key of the upload's object (PutOptions.partOf). Complete checks
// the list (ascending, every part present with its ETag, every part but the
// last at least 5 MiB), then makes the parts' extents the object's without
// copying them (src/store/assemble.ts; parts that cannot be are copied) and
// drops what is left of the upload; its ETag is S3's: the MD5 of the parts'
// MD5s, a dash, and the number of parts. A long Complete answers 200 at once
// and keeps the connection alive with spaces, as S3 does; an error found
// after that is an Error document in the 200 body, which clients check for.
import { createHash, randomBytes } from 'node:crypto';
import { assembleObject, chunkSource, dropUpload, putObject, readObject, uploadPartKey } from '../store/index.js';
import type { ObjectRow, UploadRow } from '../catalog/index.js';
import { s3Error, toS3Error } from './errors.js';
import {
  attributesFromHeaders, header, headersFor, parseAttributes, isoDate, OWNER, poolKey, requireBucket, sendEmpty, sendXml, type ObjectAttributes, type S3Context, type S3Request,
} from './context.js';
import { copyBytes, copySource, parseRange, storeBody, type StoredBody } from './objects.js';
import { readSmallBody } from './small-body.js';
import { checksumAlgorithm } from './checksums.js';
import { parseXml, xmlDocument } from './xml.js';

export const MAX_PARTS = 10_000;
/** Every part but the last must be at least this long (S3's 5 MiB). */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
/** A Complete that takes longer than this starts its 200 answer and keeps the connection alive. */
const KEEPALIVE_AFTER_MS = 2000;
const KEEPALIVE_EVERY_MS = 5000;

function partNumber(r: S3Request): number {
  const text = r.query.get('partNumber') ?? '';
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= MAX_PARTS)) throw s3Error('TooManyParts', undefined, { ArgumentName: 'partNumber', ArgumentValue: text.slice(0, 20) });
  return n;
}

/** The upload named by ?uploadId, which must be of this bucket and key. */
function requireUpload(ctx: S3Context, r: S3Request, bucket: string): UploadRow {
  const id = r.query.get('uploadId') ?? '';
  const upload = /^[0-9a-f]{32}$/.test(id) ? ctx.engine.catalog.upload(id) : null;
  if (!upload || upload.bucket !== bucket || upload.key !== r.key) throw s3Error('NoSuchUpload', undefined, { UploadId: id.slice(0, 64) });
  return upload;
}

export async function createUpload(ctx: S3Context, r: S3Request): Promise<void> {
  const bucket = requireBucket(ctx, r);
  poolKey(bucket, r.key!);
  const attributes = attributesFromHeaders(r.req);
  const algorithm = header(r.req, 'x-amz-checksum-algorithm');
  if (algorithm) checksumAlgorithm(algorithm);
  const id = randomBytes(16).toString('hex');
  ctx.engine.catalog.createUpload({ id, bucket, key: r.key!, meta: JSON.stringify(attributes), createdAt: Date.now() });
  sendXml(r, 200, 'InitiateMultipartUploadResult', { Bucket: bucket, Key: r.key!, UploadId: id }, algorithm ? { 'x-amz-checksum-algorithm': algorithm.toUpperCase() } : {});
}

/**
 * The part's row, written in the transaction that commits the part's object
 * (one commit, and never a part without its row): if the upload went
 * meanwhile (aborted, completed), the part is refused and nothing is stored.
 */
function recordPart(ctx: S3Context, upload: UploadRow, part: number): (stored: StoredBody) => void {
  return ({ size, md5, checksums }) => {
    if (!ctx.engine.catalog.upload(upload.id)) throw s3Error('NoSuchUpload', undefined, { UploadId: upload.id });
    ctx.engine.catalog.putPart(upload.id, { part, size, etag: md5, checksums: Object.keys(checksums).length > 0 ? JSON.stringify(checksums) : null, uploadedAt: Date.now() });
  };
}

export async function uploadPart(ctx: S3Context, r: S3Request): Promise<void> {
  const bucket = requireBucket(ctx, r);
  const part = partNumber(r);
  const upload = requireUpload(ctx, r, bucket);
  const stored = await storeBody(ctx, r, uploadPartKey(upload.id, part), {}, { internal: true, partOf: poolKey(bucket, upload.key), duringCommit: recordPart(ctx, upload, part) });
  sendEmpty(r, 200, stored.headers);
}

export async function uploadPartCopy(ctx: S3Context, r: S3Request): Promise<void> {
  const bucket = requireBucket(ctx, r);
  const part = partNumber(r);
  const upload = requireUpload(ctx, r, bucket);
  const source = copySource(ctx, r);
  const rangeText = header(r.req, 'x-amz-copy-source-range');
  if (rangeText !== undefined && !/^bytes=\d+-\d+$/.test(rangeText.trim())) throw s3Error('InvalidArgument', 'x-amz-copy-source-range must be bytes=FIRST-LAST', { ArgumentName: 'x-amz-copy-source-range' });
  const range = parseRange(rangeText, source.object.size);
  if (range && rangeText && Number(/-(\d+)$/.exec(rangeText)![1]) >= source.object.size) throw s3Error('InvalidRange', undefined, { ActualObjectSize: String(source.object.size) });
  if ((range ? range.end - range.start : source.object.size) > 5 * 1024 ** 3) throw s3Error('EntityTooLarge');
  const copied = await copyBytes(ctx, source.object, range, uploadPartKey(upload.id, part), {}, { internal: true, partOf: poolKey(bucket, upload.key), duringCommit: recordPart(ctx, upload, part) });
  sendXml(r, 200, 'CopyPartResult', { LastModified: isoDate(Date.now()), ETag: `"${copied.md5}"` });
}

const bare = (etag: string) => etag.trim().replace(/^"|"$/g, '');

export async function completeUpload(ctx: S3Context, r: S3Request): Promise<void> {
  const bucket = requireBucket(ctx, r);
  const upload = requireUpload(ctx, r, bucket);
  const body = await readSmallBody(r, 4 * 1024 * 1024);
  const doc = parseXml(body.toString('utf8')).CompleteMultipartUpload as { Part?: unknown } | undefined;
  const listed = (doc && typeof doc === 'object' ? doc.Part ?? [] : null) as { PartNumber?: unknown; ETag?: unknown }[] | null;
  if (!Array.isArray(listed) || listed.length === 0) throw s3Error('MalformedXML', 'CompleteMultipartUpload names no Part');
  if (listed.length > MAX_PARTS) throw s3Error('MalformedXML', `at most ${MAX_PARTS} parts`);
  const stored = new Map(ctx.engine.catalog.parts(upload.id).map((p) => [p.part, p]));
  let previous = 0;
  const chosen = listed.map((p) => {
    const number = Number(p.PartNumber);
    if (!Number.isInteger(number) || typeof p.ETag !== 'string') throw s3Error('MalformedXML', 'every Part has a PartNumber and an ETag');
    if (number <= previous) throw s3Error('InvalidPartOrder');
    previous = number;
    const part = stored.get(number);
    if (!part || part.etag !== bare(p.ETag)) throw s3Error('InvalidPart', undefined, { PartNumber: String(number), ETag: bare(String(p.ETag)).slice(0, 64) });
    return part;
  });
  // Sizes once every part is known to be there.
  chosen.forEach((part, i) => {
    if (i < chosen.length - 1 && part.size < MIN_PART_BYTES) {
      throw s3Error('EntityTooSmall', undefined, { PartNumber: String(part.part), ProposedSize: String(part.size), MinSizeAllowed: String(MIN_PART_BYTES) });
    }
  });
  const etag = `${createHash('md5').update(Buffer.concat(chosen.map((p) => Buffer.from(p.etag, 'hex')))).digest('hex')}-${chosen.length}`;
  const attributes: ObjectAttributes = { ...parseAttributes(upload.meta), etag };
  const key = poolKey(bucket, upload.key);
  const size = chosen.reduce((n, p) => n + p.size, 0);

  // Started: the 200 is out and spaces keep the connection alive; done: the answer.
  let started = false;
  const res = r.res;
  const keepAlive = setTimeout(function start() {
    if (!started) {
      started = true;
      res.writeHead(200, headersFor(r, { 'content-type': 'application/xml' }));
      res.write('<?xml version="1.0" encoding="UTF-8"?>\n');
    } else res.write(' ');
    keepAlive.refresh();
  }, KEEPALIVE_AFTER_MS);
  const engine = ctx.engine;
  async function* bytes(): AsyncGenerator<Uint8Array> {
    for (const part of chosen) {
      const object = engine.catalog.object(uploadPartKey(upload.id, part.part));
      if (!object) throw s3Error('InvalidPart', undefined, { PartNumber: String(part.part) });
      yield* readObject(engine, object);
    }
  }
  /** The parts' extents made the object's (assemble.ts), or, when they cannot be, their bytes copied. */
  async function store(): Promise<void> {
    const meta = JSON.stringify(attributes);
    const objects = chosen.map((part) => engine.catalog.object(uploadPartKey(upload.id, part.part)));
    // A completion that ended after its commit and before the upload was dropped (a crash): the
    // parts are the object already, and answering as the first one would have is all there is to do.
    const existing = engine.catalog.object(key);
    if (objects.every((o) => o === null) && existing && parseAttributes(engine.catalog.objectMeta(existing.id)).etag === etag) return;
    if (objects.every((o) => o !== null)) {
      try {
        if (await assembleObject(engine, key, objects as ObjectRow[], { meta })) return;
      } catch (error) {
        r.log.warn({ err: (error as Error).message }, 'completing without copying failed; copying the parts');
      }
    }
    await putObject(engine, chunkSource(bytes(), size), key, { meta });
  }
  let document: string;
  try {
    await store();
    await dropUpload(engine, upload.id);
    const host = header(r.req, 'host') ?? 'localhost';
    document = xmlDocument('CompleteMultipartUploadResult', { Location: `http://${host}/${bucket}/${encodeURIComponent(upload.key)}`, Bucket: bucket, Key: upload.key, ETag: `"${etag}"` });
  } catch (error) {
    clearTimeout(keepAlive);
    if (!started) throw error;
    const { error: e, internal } = toS3Error(error);
    if (internal) r.log.error({ err: (error as Error).message }, 'complete failed after its answer began');
    res.end(xmlDocument('Error', { Code: e.code, Message: e.message, RequestId: r.id }).replace(/^<\?xml[^>]*>/, ''));
    return;
  } finally {
    clearTimeout(keepAlive);
  }
  if (started) res.end(document.replace(/^<\?xml[^>]*>/, ''));
  else {
    const out = Buffer.from(document, 'utf8');
    res.writeHead(200, headersFor(r, { 'content-type': 'application/xml', 'content-length': out.length }));
    res.end(out);
  }
}

export async function abortUpload(ctx: S3Context, r: S3Request): Promise<void> {
  const bucket = requireBucket(ctx, r);
  const upload = requireUpload(ctx, r, bucket);
  await dropUpload(ctx.engine, upload.id);
  sendEmpty(r, 204);
}

function count(r: S3Request, name: string, max: number): number {
  const text = r.query.get(name);
  if (text === undefined) return max;
  if (!/^\d{1,9}$/.test(text)) throw s3Error('InvalidArgument', `${name} must be a non-negative integer`, { ArgumentName: name });
  return Math.min(max, Number(text));
}

export function listParts(ctx: S3Context, r: S3Request): void {
  const bucket = requireBucket(ctx, r);
  const upload = requireUpload(ctx, r, bucket);
  const max = count(r, 'max-parts', 1000);
  const marker = count(r, 'part-number-marker', MAX_PARTS);
  const after = r.query.has('part-number-marker') ? marker : 0;
  const rows = ctx.engine.catalog.parts(upload.id, after, max + 1);
  const page = rows.slice(0, max);
  const truncated = rows.length > max;
  sendXml(r, 200, 'ListPartsResult', {
    Bucket: bucket, Key: upload.key, UploadId: upload.id, PartNumberMarker: after,
    ...(page.length > 0 ? { NextPartNumberMarker: page[page.length - 1]!.part } : {}), MaxParts: max, IsTruncated: truncated,
    Part: page.map((p) => ({ PartNumber: p.part, LastModified: isoDate(p.uploadedAt), ETag: `"${p.etag}"`, Size: p.size })),
    Initiator: OWNER, Owner: OWNER, StorageClass: 'STANDARD',
  });
}

export function listUploads(ctx: S3Context, r: S3Request): void {
  const bucket = requireBucket(ctx, r);
  const max = count(r, 'max-uploads', 1000);
  const prefix = r.query.get('prefix') ?? '';
  const keyMarker = r.query.get('key-marker') ?? '';
  const idMarker = r.query.get('upload-id-marker') ?? '';
  const out: UploadRow[] = [];
  let after = { key: keyMarker, id: idMarker || (keyMarker ? '\u{10FFFF}' : '') };
  let truncated = false;
  for (;;) {
    const rows = ctx.engine.catalog.uploads(bucket, after, 1000);
    for (const u of rows) {
      after = { key: u.key, id: u.id };
      if (!u.key.startsWith(prefix)) continue;
      if (out.length >= max) {
        truncated = true;
        break;
      }
      out.push(u);
    }
    if (truncated || rows.length < 1000) break;
  }
  const last = out[out.length - 1];
  sendXml(r, 200, 'ListMultipartUploadsResult', {
    Bucket: bucket, KeyMarker: keyMarker, UploadIdMarker: idMarker,
    ...(truncated && last ? { NextKeyMarker: last.key, NextUploadIdMarker: last.id } : {}),
    ...(prefix ? { Prefix: prefix } : {}), MaxUploads: max, IsTruncated: truncated,
    Upload: out.map((u) => ({ Key: u.key, UploadId: u.id, Initiator: OWNER, Owner: OWNER, StorageClass: 'STANDARD', Initiated: isoDate(u.createdAt) })),
  });
}
