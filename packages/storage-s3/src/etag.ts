import { createHash } from 'node:crypto';

/**
 * ETags as this backend returns them: the header verbatim, with surrounding quotes added where a
 * server omitted them (Ceph RGW answers a repeated CompleteMultipartUpload with a bare etag), so
 * `put`, `get`, `head` and `putStream` agree.
 */
export function normalizeEtag(etag: string): string {
  if (etag.startsWith('"') || etag.startsWith('W/"')) return etag;
  return `"${etag}"`;
}

/** The etag without quotes, as Ceph RGW <= 16 needs in `If-Match` on PUT. */
export function unquoteEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

/** True if two etags name the same version, ignoring quoting. */
export function sameEtag(a: string, b: string): boolean {
  return unquoteEtag(a) === unquoteEtag(b);
}

export function md5(data: Uint8Array): Buffer {
  return createHash('md5').update(data).digest();
}

/** The etag S3 assigns to a single-part upload without SSE-KMS/SSE-C: the quoted MD5 in hex. */
export function simpleEtag(digest: Buffer): string {
  return `"${digest.toString('hex')}"`;
}

/** The etag S3 assigns to a multipart upload: MD5 of the parts' binary MD5s, then `-<parts>`. */
export function multipartEtag(partDigests: readonly Buffer[]): string {
  const hash = createHash('md5');
  for (const digest of partDigests) hash.update(digest);
  return `"${hash.digest('hex')}-${partDigests.length}"`;
}
