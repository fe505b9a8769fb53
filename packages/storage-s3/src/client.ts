import { S3Client } from '@aws-sdk/client-s3';
import type { S3StorageOptions } from './options.js';

/**
 * Builds the client used when none is injected:
 * - `maxAttempts: 1`: every retry goes through `@hadb/io`, which must see each failure of a
 *   conditional write to decide whether repeating it is safe;
 * - checksums `WHEN_REQUIRED`: the SDK's default CRC32 trailers (`aws-chunked` bodies) make Ceph
 *   RGW 16 answer 411 MissingContentLength to streamed bodies; integrity comes from Content-MD5;
 * - path-style addressing when an endpoint is given (S3-compatible servers rarely have
 *   bucket subdomains).
 */
export function buildClient(options: S3StorageOptions): S3Client {
  return new S3Client({
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    region: options.region ?? 'us-east-1',
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? 10_000,
      socketTimeout: options.socketTimeoutMs ?? 60_000,
    },
  });
}
