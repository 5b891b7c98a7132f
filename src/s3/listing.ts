// Listings: ListBuckets, ListObjectsV2, ListObjects (V1) and
// ListObjectVersions (every object as its one version, id "null"). They
// walk the catalogue in key order from the marker, a page at a time, so a
// listing costs its page, not the bucket. A delimiter rolls keys up into
// common prefixes, each skipped past in one step.
import type { ObjectRow } from '../catalog/index.js';
import { s3Error } from './errors.js';
import { awsEncode } from './sigv4.js';
import { etagOf, isoDate, OWNER, parseAttributes, requireBucket, sendXml, type ObjectAttributes, type S3Context, type S3Request } from './context.js';
import type { XmlNode } from './xml.js';

/** Past every key that starts with a given prefix (no UTF-8 text continues above U+10FFFF). */
const PAST = '\u{10FFFF}';
const PAGE = 1000;

interface Listed {
  contents: { key: string; object: ObjectRow; attributes: ObjectAttributes }[];
  prefixes: string[];
  truncated: boolean;
  /** The last key or common prefix returned (where the next page starts). */
  last: string | null;
  lastIsPrefix: boolean;
}

/**
 * Keys of a bucket under `prefix`, after `after` (a key, or with
 * `afterPrefix` a common prefix already returned), up to `max` entries.
 */
function list(ctx: S3Context, bucket: string, options: { prefix: string; delimiter: string; after: string; afterPrefix: boolean; max: number }): Listed {
  const base = `${bucket}/`;
  const { prefix, delimiter, max } = options;
  const out: Listed = { contents: [], prefixes: [], truncated: false, last: null, lastIsPrefix: false };
  let after = base + options.after + (options.afterPrefix ? PAST : '');
  const bound = options.after;
  for (;;) {
    const rows = ctx.engine.catalog.listWithMeta(base + prefix, after, PAGE);
    let jumped = false;
    for (const row of rows) {
      const key = row.key.slice(base.length);
      after = row.key;
      if (delimiter) {
        const cut = key.indexOf(delimiter, prefix.length);
        if (cut >= 0) {
          const common = key.slice(0, cut + delimiter.length);
          // Every key under a common prefix is skipped in one step (and one returned before, or at the marker, is not repeated).
          after = base + common + PAST;
          jumped = true;
          if (bound !== '' && common <= bound) break;
          if (out.contents.length + out.prefixes.length >= max) {
            out.truncated = true;
            return out;
          }
          out.prefixes.push(common);
          out.last = common;
          out.lastIsPrefix = true;
          break;
        }
      }
      if (out.contents.length + out.prefixes.length >= max) {
        out.truncated = true;
        return out;
      }
      // Unreadable attributes: listed with the pool's checksum as its tag.
      out.contents.push({ key, object: row, attributes: parseAttributes(row.meta) });
      out.last = key;
      out.lastIsPrefix = false;
    }
    // A common prefix re-queries past it; a short page read to its end is the end.
    if (!jumped && rows.length < PAGE) return out;
  }
}

function maxKeys(r: S3Request, name: string): number {
  const text = r.query.get(name);
  if (text === undefined) return 1000;
  if (!/^\d{1,9}$/.test(text)) throw s3Error('InvalidArgument', `${name} must be a non-negative integer`, { ArgumentName: name });
  return Math.min(1000, Number(text));
}

function encoder(r: S3Request): (text: string) => string {
  const type = r.query.get('encoding-type');
  if (type !== undefined && type !== 'url') throw s3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type' });
  return type === 'url' ? (text) => awsEncode(text, true) : (text) => text;
}

/** What every listing takes: the bucket (which must exist), prefix, delimiter, max-keys and the key encoding. */
function listingParams(ctx: S3Context, r: S3Request) {
  return { bucket: requireBucket(ctx, r), enc: encoder(r), prefix: r.query.get('prefix') ?? '', delimiter: r.query.get('delimiter') ?? '', max: maxKeys(r, 'max-keys') };
}

/** The common prefixes and, with encoding-type, its echo: the tail of every listing. */
function listingTail(r: S3Request, listed: Listed, enc: (t: string) => string): XmlNode {
  return { ...(r.query.has('encoding-type') ? { EncodingType: 'url' } : {}), CommonPrefixes: listed.prefixes.map((p) => ({ Prefix: enc(p) })) };
}

function entry(e: Listed['contents'][number], enc: (t: string) => string, withOwner: boolean): XmlNode {
  return {
    Key: enc(e.key), LastModified: isoDate(e.object.createdAt), ETag: etagOf(e.attributes, e.object), Size: e.object.size,
    ...(withOwner ? { Owner: OWNER } : {}), StorageClass: 'STANDARD',
  };
}

export function listObjectsV2(ctx: S3Context, r: S3Request): void {
  const { bucket, enc, prefix, delimiter, max } = listingParams(ctx, r);
  const token = r.query.get('continuation-token');
  const startAfter = r.query.get('start-after') ?? '';
  let after = startAfter;
  let afterPrefix = false;
  if (token !== undefined) {
    const decoded = /^[A-Za-z0-9_-]+$/.test(token) ? Buffer.from(token, 'base64url').toString('utf8') : '';
    if (!/^[kp]/.test(decoded)) throw s3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
    after = decoded.slice(1);
    afterPrefix = decoded[0] === 'p';
  }
  const listed = list(ctx, bucket, { prefix, delimiter, after, afterPrefix, max });
  const next = listed.truncated && listed.last !== null ? Buffer.from(`${listed.lastIsPrefix ? 'p' : 'k'}${listed.last}`, 'utf8').toString('base64url') : undefined;
  const fetchOwner = r.query.get('fetch-owner') === 'true';
  sendXml(r, 200, 'ListBucketResult', {
    Name: bucket, Prefix: enc(prefix), ...(delimiter ? { Delimiter: enc(delimiter) } : {}), MaxKeys: max,
    KeyCount: listed.contents.length + listed.prefixes.length, IsTruncated: listed.truncated,
    ...(token !== undefined ? { ContinuationToken: token } : {}), ...(next ? { NextContinuationToken: next } : {}),
    ...(startAfter ? { StartAfter: enc(startAfter) } : {}),
    Contents: listed.contents.map((e) => entry(e, enc, fetchOwner)),
    ...listingTail(r, listed, enc),
  });
}

export function listObjectsV1(ctx: S3Context, r: S3Request): void {
  const { bucket, enc, prefix, delimiter, max } = listingParams(ctx, r);
  const marker = r.query.get('marker') ?? '';
  const listed = list(ctx, bucket, { prefix, delimiter, after: marker, afterPrefix: false, max });
  sendXml(r, 200, 'ListBucketResult', {
    Name: bucket, Prefix: enc(prefix), Marker: enc(marker), ...(listed.truncated && listed.last !== null ? { NextMarker: enc(listed.last) } : {}),
    MaxKeys: max, ...(delimiter ? { Delimiter: enc(delimiter) } : {}), IsTruncated: listed.truncated,
    Contents: listed.contents.map((e) => entry(e, enc, true)),
    ...listingTail(r, listed, enc),
  });
}

export function listObjectVersions(ctx: S3Context, r: S3Request): void {
  const { bucket, enc, prefix, delimiter, max } = listingParams(ctx, r);
  const keyMarker = r.query.get('key-marker') ?? '';
  const versionMarker = r.query.get('version-id-marker');
  if (versionMarker !== undefined && versionMarker !== '' && versionMarker !== 'null') throw s3Error('InvalidArgument', 'this pool keeps no versions: the only version id is null', { ArgumentName: 'version-id-marker' });
  const listed = list(ctx, bucket, { prefix, delimiter, after: keyMarker, afterPrefix: false, max });
  sendXml(r, 200, 'ListVersionsResult', {
    Name: bucket, Prefix: enc(prefix), KeyMarker: enc(keyMarker), VersionIdMarker: versionMarker ?? '',
    ...(listed.truncated && listed.last !== null ? { NextKeyMarker: enc(listed.last), NextVersionIdMarker: 'null' } : {}),
    MaxKeys: max, ...(delimiter ? { Delimiter: enc(delimiter) } : {}), IsTruncated: listed.truncated,
    Version: listed.contents.map((e) => ({ ...entry(e, enc, true), VersionId: 'null', IsLatest: true })),
    ...listingTail(r, listed, enc),
  });
}

export function listBuckets(ctx: S3Context, r: S3Request): void {
  sendXml(r, 200, 'ListAllMyBucketsResult', {
    Owner: OWNER,
    Buckets: { Bucket: ctx.engine.catalog.buckets().map((b) => ({ Name: b.name, CreationDate: isoDate(b.createdAt) })) },
  });
}
