// The S3 listener's metrics: requests by operation and S3 code, latency per
// operation, and bytes in and out. Both labels are bounded (the operations
// below and S3's error codes).
import { Counter, Histogram, type Registry } from 'prom-client';

export interface S3Metrics {
  observe(operation: string, code: string, seconds: number, bytesIn: number, bytesOut: number): void;
}

export function s3Metrics(registry: Registry | null): S3Metrics {
  if (!registry) return { observe() {} };
  const requests = new Counter({
    name: 'dynamicfs_s3_requests_total', help: 'S3 requests by operation and outcome (OK, or the S3 error code).', labelNames: ['operation', 'code'], registers: [registry],
  });
  const seconds = new Histogram({
    name: 'dynamicfs_s3_request_duration_seconds', help: 'S3 request time, from the request to the end of the answer, by operation.', labelNames: ['operation'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers: [registry],
  });
  const received = new Counter({ name: 'dynamicfs_s3_received_bytes_total', help: 'Object bytes received through S3 (request bodies).', registers: [registry] });
  const sent = new Counter({ name: 'dynamicfs_s3_sent_bytes_total', help: 'Bytes sent through S3 (object bodies and XML answers).', registers: [registry] });
  return {
    observe(operation, code, s, bytesIn, bytesOut) {
      requests.inc({ operation, code });
      seconds.observe({ operation }, s);
      if (bytesIn > 0) received.inc(bytesIn);
      if (bytesOut > 0) sent.inc(bytesOut);
    },
  };
}
