// Bucket operations: CreateBucket, HeadBucket, DeleteBucket (only when
// empty), GetBucketLocation, GetBucketVersioning (never enabled here), and
// DeleteObjects, the batch delete.
import { dropUpload } from '../store/index.js';
import { s3Error } from './errors.js';
import { checkBucketName, poolKey, requireBucket, sendEmpty, sendXml, type S3Context, type S3Request } from './context.js';
import { parseXml } from './xml.js';
import { readSmallBody } from './small-body.js';
import { deleteQuietly } from './objects.js';

export async function createBucket(ctx: S3Context, r: S3Request): Promise<void> {
  const name = checkBucketName(r.bucket!);
  const body = await readSmallBody(r, 64 * 1024);
  if (body.length > 0) {
    const config = parseXml(body.toString('utf8')).CreateBucketConfiguration as { LocationConstraint?: unknown } | undefined;
    const location = config?.LocationConstraint;
    if (location !== undefined && location !== '' && location !== ctx.region) {
      throw s3Error('InvalidArgument', `this endpoint's region is ${ctx.region}; LocationConstraint ${String(location).slice(0, 40)} cannot be met`);
    }
  }
  if (!ctx.engine.catalog.createBucket(name, Date.now())) throw s3Error('BucketAlreadyOwnedByYou', undefined, { BucketName: name });
  r.log.info({ bucket: name }, 'bucket created');
  sendEmpty(r, 200, { location: `/${name}` });
}

export function headBucket(ctx: S3Context, r: S3Request): void {
  requireBucket(ctx, r);
  sendEmpty(r, 200, { 'x-amz-bucket-region': ctx.region });
}

export async function deleteBucket(ctx: S3Context, r: S3Request): Promise<void> {
  const name = requireBucket(ctx, r);
  if (ctx.engine.catalog.listObjects({ prefix: `${name}/`, limit: 1 }).length > 0) throw s3Error('BucketNotEmpty', undefined, { BucketName: name });
  // Uploads never completed go with their bucket.
  for (const upload of ctx.engine.catalog.uploadsOfBucket(name)) await dropUpload(ctx.engine, upload.id);
  ctx.engine.catalog.deleteBucket(name);
  r.log.info({ bucket: name }, 'bucket deleted');
  sendEmpty(r, 204);
}

export function getBucketLocation(ctx: S3Context, r: S3Request): void {
  requireBucket(ctx, r);
  // us-east-1 is written as an empty constraint, as S3 does.
  sendXml(r, 200, 'LocationConstraint', ctx.region === 'us-east-1' ? {} : ctx.region);
}

export function getBucketVersioning(ctx: S3Context, r: S3Request): void {
  requireBucket(ctx, r);
  sendXml(r, 200, 'VersioningConfiguration', {});
}

const MAX_DELETE_KEYS = 1000;

export async function deleteObjects(ctx: S3Context, r: S3Request): Promise<void> {
  const bucket = requireBucket(ctx, r);
  const body = await readSmallBody(r, 2 * 1024 * 1024, { checkDigests: true });
  const parsed = parseXml(body.toString('utf8')).Delete as { Quiet?: unknown; Object?: unknown } | undefined;
  if (!parsed || typeof parsed !== 'object') throw s3Error('MalformedXML');
  const objects = (parsed.Object ?? []) as { Key?: unknown; VersionId?: unknown }[];
  if (!Array.isArray(objects) || objects.length === 0 || objects.length > MAX_DELETE_KEYS) throw s3Error('MalformedXML', `a Delete request names 1 to ${MAX_DELETE_KEYS} objects`);
  const quiet = String(parsed.Quiet ?? 'false').toLowerCase() === 'true';
  const deleted: { Key: string; VersionId?: string }[] = [];
  const errors: { Key: string; Code: string; Message: string }[] = [];
  for (const o of objects) {
    const key = typeof o?.Key === 'string' ? o.Key : typeof o?.Key === 'number' ? String(o.Key) : null;
    if (key === null) throw s3Error('MalformedXML', 'every Object of a Delete request has a Key');
    try {
      if (o.VersionId !== undefined && o.VersionId !== 'null') throw s3Error('InvalidArgument', 'this pool keeps no versions: the only version id is null');
      await deleteQuietly(ctx, poolKey(bucket, key));
      deleted.push(o.VersionId !== undefined ? { Key: key, VersionId: 'null' } : { Key: key });
    } catch (error) {
      const e = error as { code?: string; message?: string };
      errors.push({ Key: key, Code: typeof e.code === 'string' && !e.code.startsWith('DFS_') ? e.code : 'InternalError', Message: e.message ?? 'failed' });
    }
  }
  sendXml(r, 200, 'DeleteResult', { Deleted: quiet ? [] : deleted, Error: errors });
}

