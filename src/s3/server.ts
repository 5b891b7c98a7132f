// The S3 listener: a plain node:http server beside the control API, on the
// same engine. Each request is addressed (path-style, or virtual-host-style
// under one of s3.domains), authenticated (sigv4.ts), routed to its
// operation by method, bucket, key and sub-resource, and answered; errors
// are S3's XML. Every request gets one log line with its id and operation,
// and counts in the dynamicfs_s3_* metrics.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import { enterLogContext, type Logger } from '../log/index.js';
import type { Engine } from '../store/index.js';
import { s3Error, toS3Error } from './errors.js';
import { KeyStore } from './credentials.js';
import { decodeComponent, parseQuery, verifyRequest } from './sigv4.js';
import { header, sendEmpty, sendXml, type S3Context, type S3Request } from './context.js';
import { copyObjectOp, deleteObjectOp, getObjectOp, putObjectOp } from './objects.js';
import { listBuckets, listObjectsV1, listObjectsV2, listObjectVersions } from './listing.js';
import { createBucket, deleteBucket, deleteObjects, getBucketLocation, getBucketVersioning, headBucket } from './buckets.js';
import { abortUpload, completeUpload, createUpload, listParts, listUploads, uploadPart, uploadPartCopy } from './multipart.js';
import { s3Metrics, type S3Metrics } from './metrics.js';

/** Sub-resources of features this pool does not have: they answer NotImplemented, never half-work. */
const UNSUPPORTED = [
  'acl', 'policy', 'policyStatus', 'lifecycle', 'encryption', 'object-lock', 'retention', 'legal-hold', 'tagging', 'cors', 'website', 'logging',
  'notification', 'replication', 'accelerate', 'requestPayment', 'ownershipControls', 'publicAccessBlock', 'inventory', 'analytics', 'metrics',
  'intelligent-tiering', 'restore', 'select', 'torrent', 'attributes', 'session', 'renameObject',
];

type Handler = (ctx: S3Context, r: S3Request) => Promise<void> | void;

/** The operation a request asks for: its S3 name and handler. */
function route(method: string, r: Pick<S3Request, 'bucket' | 'key' | 'query' | 'req'>): { operation: string; handler: Handler } {
  const q = r.query;
  const has = (name: string) => q.has(name);
  const unsupported = UNSUPPORTED.find(has);
  const op = (operation: string, handler: Handler) => ({ operation, handler });
  const notImplemented = (what: string) => op('NotImplemented', () => {
    throw s3Error('NotImplemented', `${what} is not supported by this pool (see docs/S3.md)`);
  });
  if (r.bucket === null) {
    if (method === 'GET') return op('ListBuckets', listBuckets);
    return op('Unknown', () => {
      throw s3Error('MethodNotAllowed');
    });
  }
  if (unsupported) return notImplemented(`?${unsupported}`);
  if (r.key === null) {
    switch (method) {
      case 'PUT':
        if (has('versioning')) return notImplemented('versioning');
        return op('CreateBucket', createBucket);
      case 'HEAD': return op('HeadBucket', headBucket);
      case 'DELETE': return op('DeleteBucket', deleteBucket);
      case 'POST':
        if (has('delete')) return op('DeleteObjects', deleteObjects);
        return notImplemented('POST to a bucket (browser uploads)');
      case 'GET':
        if (has('location')) return op('GetBucketLocation', getBucketLocation);
        if (has('versioning')) return op('GetBucketVersioning', getBucketVersioning);
        if (has('uploads')) return op('ListMultipartUploads', listUploads);
        if (has('versions')) return op('ListObjectVersions', listObjectVersions);
        if (q.get('list-type') === '2') return op('ListObjectsV2', listObjectsV2);
        return op('ListObjects', listObjectsV1);
      default:
        return op('Unknown', () => {
          throw s3Error('MethodNotAllowed');
        });
    }
  }
  switch (method) {
    case 'PUT':
      if (has('partNumber') || has('uploadId')) return header(r.req, 'x-amz-copy-source') !== undefined ? op('UploadPartCopy', uploadPartCopy) : op('UploadPart', uploadPart);
      if (header(r.req, 'x-amz-copy-source') !== undefined) return op('CopyObject', copyObjectOp);
      return op('PutObject', putObjectOp);
    case 'GET':
      if (has('uploadId')) return op('ListParts', listParts);
      return op('GetObject', (ctx, req) => getObjectOp(ctx, req, false));
    case 'HEAD': return op('HeadObject', (ctx, req) => getObjectOp(ctx, req, true));
    case 'DELETE':
      if (has('uploadId')) return op('AbortMultipartUpload', abortUpload);
      return op('DeleteObject', deleteObjectOp);
    case 'POST':
      if (has('uploads')) return op('CreateMultipartUpload', createUpload);
      if (has('uploadId')) return op('CompleteMultipartUpload', completeUpload);
      return notImplemented('this POST');
    default:
      return op('Unknown', () => {
        throw s3Error('MethodNotAllowed');
      });
  }
}

/** Bucket and key from the Host header and path: virtual-host style under one of `domains`, else path style. */
export function address(host: string, path: string, domains: readonly string[]): { bucket: string | null; key: string | null } {
  const name = host.toLowerCase().replace(/:\d+$/, '');
  const domain = domains.find((d) => name.endsWith(`.${d}`));
  const decoded = decodeComponent(path);
  if (!decoded.startsWith('/')) throw s3Error('InvalidArgument', 'the request target must be a path');
  if (domain) {
    const bucket = name.slice(0, -(domain.length + 1));
    return { bucket, key: decoded.length > 1 ? decoded.slice(1) : null };
  }
  const rest = decoded.slice(1);
  if (rest === '') return { bucket: null, key: null };
  const slash = rest.indexOf('/');
  if (slash < 0) return { bucket: rest, key: null };
  const key = rest.slice(slash + 1);
  return { bucket: rest.slice(0, slash), key: key === '' ? null : key };
}

export interface S3ServerOptions {
  engine: Engine;
  logger: Logger;
  registry?: Registry | null;
}

export function createS3Server(options: S3ServerOptions): Server {
  const { engine, logger } = options;
  const ctx: S3Context = { engine, keys: new KeyStore(engine.paths.s3Keys), region: engine.config.s3.region, domains: engine.config.s3.domains };
  const metrics: S3Metrics = s3Metrics(options.registry ?? null);
  const server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
    void serve(ctx, metrics, logger, req, res);
  });
  // Whatever Node's HTTP parser refuses (oversized headers, malformed requests) gets a 400 or 431, never a crash.
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    logger.debug({ component: 's3', code: error.code, err: error.message }, 'request refused by the HTTP parser');
    // Bytes after a request that said Connection: close (a body on a GET, say) while its answer is
    // still being made: that answer goes out, then the connection closes.
    const pending = (socket as unknown as { _httpMessage?: ServerResponse | null })._httpMessage;
    if (pending && !pending.writableFinished) {
      pending.once('finish', () => socket.destroy());
      return;
    }
    if (error.code === 'HPE_CLOSED_CONNECTION') return socket.destroy(); // ...or has already gone out
    if (!socket.writable) return socket.destroy();
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });
  return server;
}

/** Requests for object bytes: their latency is what the scrubber at `auto` keeps from rising. */
const OBJECT_OPERATIONS = new Set(['GetObject', 'HeadObject', 'PutObject', 'UploadPart', 'CopyObject']);

/** Request ids: 16 hex digits, this process's random half and a counter (unique without a call for randomness per request). */
const ID_PREFIX = randomBytes(4).toString('hex').toUpperCase();
let requestCounter = 0;
function requestId(): string {
  requestCounter = (requestCounter + 1) >>> 0;
  return ID_PREFIX + requestCounter.toString(16).toUpperCase().padStart(8, '0');
}

async function serve(ctx: S3Context, metrics: S3Metrics, logger: Logger, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = process.hrtime.bigint();
  const id = requestId();
  const log = logger.child({ component: 's3', reqId: id });
  enterLogContext(log);
  const r: S3Request = {
    req, res, id, bucket: null, key: null, query: new Map(), verified: null as never, log, bytesIn: 0, bytesOut: 0,
  };
  let operation = 'Unknown';
  let code = 'OK';
  try {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    for (const [k, v] of parseQuery(q < 0 ? '' : url.slice(q + 1))) if (!r.query.has(k)) r.query.set(k, v);
    ({ bucket: r.bucket, key: r.key } = address(header(req, 'host') ?? '', q < 0 ? url : url.slice(0, q), ctx.domains));
    const routed = route(req.method ?? 'GET', r);
    operation = routed.operation;
    r.verified = verifyRequest({ method: req.method ?? 'GET', url, headers: req.headers }, (key) => ctx.keys.secret(key), { region: ctx.region });
    await routed.handler(ctx, r);
  } catch (error) {
    const { error: e, internal } = toS3Error(error);
    code = e.code;
    if (internal) log.error({ err: (error as Error).message, code: (error as { code?: string }).code, operation }, 'S3 request failed');
    if (res.headersSent) {
      res.destroy();
    } else {
      // A body not read (refused before or while reading it) is not drained: the connection closes after the answer.
      const extra: Record<string, string> = req.readableEnded ? {} : { connection: 'close' };
      if (req.method === 'HEAD') sendEmpty(r, e.status, { ...extra, 'x-amz-error-code': e.code });
      else {
        const resource = r.bucket === null ? '/' : `/${r.bucket}${r.key !== null ? `/${r.key}` : ''}`;
        sendXml(r, e.status, 'Error', { Code: e.code, Message: e.message, ...e.extra, Resource: resource, RequestId: r.id }, extra);
      }
      if (!req.readableEnded) res.on('finish', () => req.destroy());
    }
  } finally {
    if (code === 'OK' && res.statusCode >= 300 && res.statusCode !== 304) code = String(res.statusCode);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.observe(operation, code, seconds, r.bytesIn, r.bytesOut);
    if (OBJECT_OPERATIONS.has(operation)) ctx.engine.foreground.request(seconds * 1000);
    log.info({ method: req.method, operation, bucket: r.bucket, status: res.statusCode, code, ms: Math.round(seconds * 10000) / 10, in: r.bytesIn, out: r.bytesOut }, 's3 request');
  }
}
