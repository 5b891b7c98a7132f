// Small request bodies read whole (XML documents of bucket creation, batch
// delete and multipart completion), bounded, with their digests checked as
// any upload's are.
import { s3Error } from './errors.js';
import { checkDigests, requestBody } from './body.js';
import type { S3Request } from './context.js';

export async function readSmallBody(r: S3Request, maxBytes: number, options: { checkDigests?: boolean } = {}): Promise<Buffer> {
  const body = requestBody(r.req, r.verified, maxBytes);
  const parts: Buffer[] = [];
  try {
    for await (const chunk of body.chunks) parts.push(chunk);
  } catch (error) {
    body.digests.drop();
    if ((error as { code?: string }).code === 'EntityTooLarge') throw s3Error('MalformedXML', `the request body exceeds ${maxBytes} bytes`);
    throw error;
  }
  r.bytesIn += body.digests.bytes;
  // The signed payload hash is always checked; Content-MD5 and checksums where the operation takes them.
  if (options.checkDigests !== false) await checkDigests(r.req, r.verified, body);
  return Buffer.concat(parts);
}
