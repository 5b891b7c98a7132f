// S3's errors: a code, an HTTP status and a message, sent as S3's XML error
// body. Engine errors (DfsError) are mapped to the nearest S3 code; anything
// else is an InternalError whose details go to the log, never to the client.
import { DfsError } from '../errors.js';

export class S3Error extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    /** Extra elements of the error body (for example ArgumentName). */
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
  }
}

const CODES: Record<string, [code: string, status: number, message: string]> = {
  AccessDenied: ['AccessDenied', 403, 'Access Denied'],
  BadDigest: ['BadDigest', 400, 'The Content-MD5 or checksum you specified did not match what we received.'],
  BucketAlreadyOwnedByYou: ['BucketAlreadyOwnedByYou', 409, 'Your previous request to create the named bucket succeeded and you already own it.'],
  BucketNotEmpty: ['BucketNotEmpty', 409, 'The bucket you tried to delete is not empty'],
  EntityTooLarge: ['EntityTooLarge', 400, 'Your proposed upload exceeds the maximum allowed object size.'],
  EntityTooSmall: ['EntityTooSmall', 400, 'Your proposed upload is smaller than the minimum allowed object size.'],
  IncompleteBody: ['IncompleteBody', 400, 'You did not provide the number of bytes specified by the Content-Length HTTP header.'],
  InvalidAccessKeyId: ['InvalidAccessKeyId', 403, 'The AWS access key Id you provided does not exist in our records.'],
  InvalidArgument: ['InvalidArgument', 400, 'Invalid Argument'],
  InvalidBucketName: ['InvalidBucketName', 400, 'The specified bucket is not valid.'],
  InvalidDigest: ['InvalidDigest', 400, 'The Content-MD5 or checksum you specified is not valid.'],
  InvalidPart: ['InvalidPart', 400, 'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.'],
  InvalidPartOrder: ['InvalidPartOrder', 400, 'The list of parts was not in ascending order. The parts list must be specified in order by part number.'],
  InvalidRange: ['InvalidRange', 416, 'The requested range is not satisfiable'],
  InvalidRequest: ['InvalidRequest', 400, 'Invalid Request'],
  KeyTooLongError: ['KeyTooLongError', 400, 'Your key is too long'],
  MalformedXML: ['MalformedXML', 400, 'The XML you provided was not well-formed or did not validate against our published schema.'],
  MethodNotAllowed: ['MethodNotAllowed', 405, 'The specified method is not allowed against this resource.'],
  MissingContentLength: ['MissingContentLength', 411, 'You must provide the Content-Length HTTP header.'],
  NoSuchBucket: ['NoSuchBucket', 404, 'The specified bucket does not exist'],
  NoSuchKey: ['NoSuchKey', 404, 'The specified key does not exist.'],
  NoSuchUpload: ['NoSuchUpload', 404, 'The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.'],
  NotImplemented: ['NotImplemented', 501, 'A header or query you provided implies functionality that is not implemented.'],
  PreconditionFailed: ['PreconditionFailed', 412, 'At least one of the preconditions you specified did not hold.'],
  RequestTimeTooSkewed: ['RequestTimeTooSkewed', 403, 'The difference between the request time and the server\'s time is too large.'],
  SignatureDoesNotMatch: ['SignatureDoesNotMatch', 403, 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'],
  XAmzContentSHA256Mismatch: ['XAmzContentSHA256Mismatch', 400, 'The provided \'x-amz-content-sha256\' header does not match what was computed.'],
  AuthorizationQueryParametersError: ['AuthorizationQueryParametersError', 400, 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"'],
  AuthorizationHeaderMalformed: ['AuthorizationHeaderMalformed', 400, 'The authorization header is malformed.'],
  InternalError: ['InternalError', 500, 'We encountered an internal error. Please try again.'],
  ServiceUnavailable: ['ServiceUnavailable', 503, 'Please reduce your request rate or add disks to the pool.'],
  RequestHeaderSectionTooLarge: ['RequestHeaderSectionTooLarge', 400, 'Your request header section exceeds the maximum allowed size.'],
  MetadataTooLarge: ['MetadataTooLarge', 400, 'Your metadata headers exceed the maximum allowed metadata size.'],
  TooManyParts: ['InvalidArgument', 400, 'Part number must be an integer between 1 and 10000, inclusive'],
};

/** An S3 error of a known code; `message` replaces the standard one. */
export function s3Error(code: keyof typeof CODES, message?: string, extra: Record<string, string> = {}): S3Error {
  const [name, status, standard] = CODES[code]!;
  return new S3Error(name, status, message ?? standard, extra);
}

/** The S3 error for any error a handler threw. */
export function toS3Error(error: unknown): { error: S3Error; internal: boolean } {
  if (error instanceof S3Error) return { error, internal: false };
  if (error instanceof DfsError) {
    const c = error.code;
    const map: [string, keyof typeof CODES][] = [
      ['DFS_ERR_OBJECT_NOT_FOUND', 'NoSuchKey'],
      ['DFS_ERR_OBJECT_KEY_INVALID', 'KeyTooLongError'],
      ['DFS_ERR_OBJECT_CHANGED', 'PreconditionFailed'],
      ['DFS_ERR_INPUT_READ', 'IncompleteBody'],
      ['DFS_ERR_POLICY_UNSATISFIABLE', 'ServiceUnavailable'],
      ['DFS_ERR_WRITE_FAILED', 'ServiceUnavailable'],
      ['DFS_ERR_MEMORY_BUDGET', 'ServiceUnavailable'],
      ['DFS_ERR_WORKER_QUEUE_FULL', 'ServiceUnavailable'],
    ];
    const hit = map.find(([dfs]) => dfs === c);
    if (hit) return { error: s3Error(hit[1], hit[1] === 'KeyTooLongError' || hit[1] === 'ServiceUnavailable' ? error.message : undefined), internal: hit[1] === 'ServiceUnavailable' };
  }
  return { error: s3Error('InternalError'), internal: true };
}
