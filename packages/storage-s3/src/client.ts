import { S3Client } from '@aws-sdk/client-s3';
import type { ResolvedOptions, S3StorageOptions } from './options.js';

/**
 * Builds the client used when none is injected:
 * - `maxAttempts: 1`: every retry goes through `@hadb/io`, which must see each failure of a
 *   conditional write to decide whether repeating it is safe;
 * - checksums `WHEN_REQUIRED`: the SDK's default CRC32 trailers (`aws-chunked` bodies) make Ceph
 *   RGW 16 answer 411 MissingContentLength to streamed bodies; integrity comes from Content-MD5;
 * - path-style addressing when an endpoint is given (S3-compatible servers rarely have
 *   bucket subdomains);
 * - the request handler's (`@smithy/node-http-handler`) timeouts: `connectionTimeout` (TCP
 *   connect), `requestTimeout` = `requestTimeoutMs` with `throwOnRequestTimeout` (the whole
 *   request up to the response headers; without the flag the SDK only logs a warning) and
 *   `socketTimeout` (idle socket, also while a body streams).
 */
export function buildClient(options: S3StorageOptions, resolved: ResolvedOptions): S3Client {
  return new S3Client({
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    region: options.region ?? 'us-east-1',
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: resolved.connectionTimeoutMs,
      requestTimeout: resolved.requestTimeoutMs,
      throwOnRequestTimeout: true,
      socketTimeout: resolved.socketTimeoutMs,
    },
  });
}
