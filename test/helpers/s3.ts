// S3 clients against a real daemon: the AWS SDK for JavaScript, and raw
// requests signed with the SDK's own signer (for what the SDK does not send:
// virtual-host addressing on loopback, chunk-signed streaming uploads,
// unsigned or tampered requests).
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Sha256 } from './sha256.js';
import { request } from 'node:http';

export interface S3Key {
  accessKeyId: string;
  secretAccessKey: string;
}

export function s3Client(endpoint: string, key: S3Key, extra: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: key, maxAttempts: 1, ...extra });
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Sends a request to 127.0.0.1:port as it is (the Host header may name another host). */
export function rawRequest(port: number, method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Signs a request with the SDK's SigV4 signer. `payloadHash` is the
 * x-amz-content-sha256 to sign (the body's SHA-256 by default).
 */
export async function signed(key: S3Key, options: { method: string; host: string; path: string; query?: Record<string, string>; headers?: Record<string, string>; body?: Buffer | string; payloadHash?: string; date?: Date }) {
  const signer = new SignatureV4({ credentials: key, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false, applyChecksum: true });
  const headers: Record<string, string> = { host: options.host, ...options.headers };
  if (options.payloadHash) headers['x-amz-content-sha256'] = options.payloadHash;
  const req = new HttpRequest({ method: options.method, hostname: options.host.split(':')[0]!, port: Number(options.host.split(':')[1]), path: options.path, query: options.query ?? {}, headers, body: options.body });
  const out = await signer.sign(req, options.date ? { signingDate: options.date } : {});
  const query = new URLSearchParams(options.query ?? {}).toString().replace(/\+/g, '%20');
  return { headers: out.headers as Record<string, string>, target: `${options.path}${query ? `?${query}` : ''}`, signer };
}
