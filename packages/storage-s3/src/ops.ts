import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { type ObjectInfo, StorageError, type StoredObject } from '@hadb/storage';
import { discardBody, readBody } from './body.js';
import type { S3Context } from './context.js';
import { isMissing, toStorageError } from './errors.js';
import { md5, normalizeEtag } from './etag.js';

export function requireEtag(etag: string | undefined, what: string): string {
  if (etag === undefined || etag === '')
    throw new StorageError('HADB_STORAGE_PROTOCOL', `S3 ${what}: response has no ETag`);
  return normalizeEtag(etag);
}

export function requireLength(length: number | undefined, what: string): number {
  if (length === undefined || !Number.isSafeInteger(length) || length < 0) {
    throw new StorageError('HADB_STORAGE_PROTOCOL', `S3 ${what}: response has no valid Content-Length`);
  }
  return length;
}

/** HEAD with retries: size and etag, or `null` if the key is missing. Throws `StorageError`. */
export async function headObject(
  ctx: S3Context,
  fullKey: string,
  key: string,
  signal: AbortSignal | undefined,
  op = 'head',
): Promise<ObjectInfo | null> {
  try {
    const out = await ctx.requester.idempotent(op, signal, async (s) => {
      try {
        return await ctx.client.send(new HeadObjectCommand({ Bucket: ctx.bucket, Key: fullKey }), { abortSignal: s });
      } catch (error) {
        if (isMissing(error)) return null;
        throw error;
      }
    });
    if (out === null) return null;
    return { size: requireLength(out.ContentLength, op), etag: requireEtag(out.ETag, op) };
  } catch (error) {
    throw toStorageError(error, { op, key, signal });
  }
}

/**
 * GET with retries, reading the whole body inside each attempt (a connection lost mid-body is
 * retried) and checking its length. `null` if the key is missing. Throws `StorageError`.
 */
export async function getObject(
  ctx: S3Context,
  fullKey: string,
  key: string,
  signal: AbortSignal | undefined,
  op = 'get',
): Promise<StoredObject | null> {
  try {
    return await ctx.requester.idempotent(op, signal, async (s) => {
      let out;
      try {
        out = await ctx.client.send(new GetObjectCommand({ Bucket: ctx.bucket, Key: fullKey }), { abortSignal: s });
      } catch (error) {
        if (isMissing(error)) return null;
        throw error;
      }
      let etag: string;
      let length: number;
      try {
        etag = requireEtag(out.ETag, op);
        length = requireLength(out.ContentLength, op);
      } catch (error) {
        discardBody(out.Body);
        throw error;
      }
      return { data: await readBody(out.Body, length, op, s), etag };
    });
  } catch (error) {
    throw toStorageError(error, { op, key, signal });
  }
}

/** Unconditional PUT with Content-MD5 and retries (idempotent). Returns the new etag. */
export async function putObject(
  ctx: S3Context,
  fullKey: string,
  key: string,
  data: Uint8Array,
  signal: AbortSignal | undefined,
  op = 'put',
): Promise<string> {
  const contentMd5 = md5(data).toString('base64');
  let etag: string | undefined;
  try {
    const out = await ctx.requester.idempotent(op, signal, (s) =>
      ctx.client.send(
        new PutObjectCommand({
          Bucket: ctx.bucket,
          Key: fullKey,
          Body: data,
          ContentLength: data.length,
          ContentMD5: contentMd5,
        }),
        { abortSignal: s },
      ),
    );
    etag = out.ETag;
  } catch (error) {
    throw toStorageError(error, { op, key, signal });
  }
  if (etag !== undefined && etag !== '') return normalizeEtag(etag);
  const head = await headObject(ctx, fullKey, key, signal, op);
  if (head === null)
    throw new StorageError('HADB_STORAGE_PROTOCOL', `S3 ${op} "${key}": no ETag, and the object is gone`);
  return head.etag;
}
