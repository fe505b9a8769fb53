import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { ConcurrencyLimiter, httpStatusOf, isRequestNotSent } from '@hadb/io';
import { type PutStreamResult, StorageError } from '@hadb/storage';
import { conditionalPut } from './conditional.js';
import type { S3Context } from './context.js';
import { abortedError, isMissing, isPreconditionFailure, isRetryableS3Error, toStorageError } from './errors.js';
import { md5, multipartEtag, normalizeEtag, sameEtag } from './etag.js';
import { MAX_PARTS, MAX_PART_SIZE } from './options.js';
import { headObject, putObject } from './ops.js';
import { BufferPool, type Part, PartReader } from './part-reader.js';

/** Parameters of {@link putStream}. */
export interface PutStreamParams {
  readonly fullKey: string;
  readonly key: string;
  readonly body: AsyncIterable<Uint8Array>;
  readonly ifAbsent: boolean;
  readonly contentLength: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly partSize: number;
  readonly queueSize: number;
}

/** Grows the part size when a known length would need more than 10,000 parts. */
export function choosePartSize(partSize: number, contentLength: number | undefined): number {
  if (contentLength === undefined) return partSize;
  const needed = Math.ceil(contentLength / MAX_PARTS);
  return Math.min(MAX_PART_SIZE, Math.max(partSize, needed));
}

/** Refuses to store a body whose size differs from the announced `contentLength`. */
function checkLength(p: PutStreamParams, size: number): void {
  if (p.contentLength !== undefined && size !== p.contentLength) {
    throw new StorageError(
      'HADB_STORAGE_REJECTED',
      `S3 putStream "${p.key}": the body has ${size} bytes, but contentLength is ${p.contentLength}`,
    );
  }
}

/** How long cleanup (AbortMultipartUpload) may take after the caller's signal fired. */
const CLEANUP_TIMEOUT_MS = 30_000;

async function abortUpload(ctx: S3Context, fullKey: string, uploadId: string): Promise<void> {
  try {
    await ctx.requester.idempotent('abortMultipartUpload', AbortSignal.timeout(CLEANUP_TIMEOUT_MS), (s) =>
      ctx.client.send(new AbortMultipartUploadCommand({ Bucket: ctx.bucket, Key: fullKey, UploadId: uploadId }), {
        abortSignal: s,
      }),
    );
  } catch {
    // Best effort: an upload that cannot be aborted stays invisible (never listed, never read) and
    // is reclaimed by a bucket lifecycle rule (AbortIncompleteMultipartUpload).
  }
}

/**
 * A one-shot stream over a part's bytes that drops its reference once they are read. The SDK's
 * HTTP handler keeps each keep-alive socket's last request (body included) reachable for a while;
 * with a plain buffer body that doubles the memory of a multipart upload. The part is still
 * protected end to end by Content-MD5 (a signed header the server checks); the payload itself is
 * sent as UNSIGNED-PAYLOAD, which also saves hashing every part with SHA-256.
 */
class PartBody extends Readable {
  #data: Uint8Array | undefined;

  constructor(data: Uint8Array) {
    super();
    this.#data = data;
  }

  override _read(): void {
    const data = this.#data;
    this.#data = undefined;
    if (data !== undefined && data.length > 0) this.push(data);
    this.push(null);
  }
}

async function uploadPart(
  ctx: S3Context,
  p: PutStreamParams,
  uploadId: string,
  partNumber: number,
  data: Uint8Array,
  digest: Buffer,
  signal: AbortSignal,
): Promise<string> {
  const out = await ctx.requester.idempotent('uploadPart', signal, (s) =>
    ctx.client.send(
      new UploadPartCommand({
        Bucket: ctx.bucket,
        Key: p.fullKey,
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: new PartBody(data),
        ContentLength: data.length,
        ContentMD5: digest.toString('base64'),
      }),
      { abortSignal: s },
    ),
  );
  if (out.ETag === undefined || out.ETag === '') {
    throw new StorageError('HADB_STORAGE_PROTOCOL', `S3 uploadPart "${p.key}": response has no ETag`);
  }
  return out.ETag;
}

/**
 * Streams a body to S3 with bounded memory: a body that fits in one part is a single PUT
 * (conditional for `ifAbsent`); anything larger is a multipart upload of `partSize` parts,
 * `queueSize` at a time, so at most `(queueSize + 1) × partSize` bytes are buffered. A failing body,
 * failed part or abort aborts the multipart upload, so nothing becomes visible.
 */
export async function putStream(ctx: S3Context, p: PutStreamParams): Promise<PutStreamResult> {
  const partSize = choosePartSize(p.partSize, p.contentLength);
  const reader = new PartReader(p.body, p.signal, 'putStream');
  const pool = new BufferPool(partSize, p.queueSize + 1);
  try {
    const first = await reader.read(pool);
    if (first.last) {
      checkLength(p, first.data.length);
      if (p.ifAbsent) {
        const r = await conditionalPut(ctx, p.fullKey, p.key, first.data, { kind: 'absent' }, p.signal);
        return r.success ? { success: true, etag: r.etag, size: first.data.length } : { success: false };
      }
      const etag = await putObject(ctx, p.fullKey, p.key, first.data, p.signal, 'putStream');
      return { success: true, etag, size: first.data.length };
    }
    return await multipart(ctx, p, reader, first, pool);
  } finally {
    reader.close();
  }
}

async function multipart(
  ctx: S3Context,
  p: PutStreamParams,
  reader: PartReader,
  first: Part,
  pool: BufferPool,
): Promise<PutStreamResult> {
  const partSize = pool.size;
  const { signal } = p;
  let uploadId: string;
  try {
    const created = await ctx.requester.idempotent('createMultipartUpload', signal, (s) =>
      ctx.client.send(new CreateMultipartUploadCommand({ Bucket: ctx.bucket, Key: p.fullKey }), { abortSignal: s }),
    );
    if (created.UploadId === undefined || created.UploadId === '') {
      throw new StorageError('HADB_STORAGE_PROTOCOL', `S3 createMultipartUpload "${p.key}": no UploadId`);
    }
    uploadId = created.UploadId;
  } catch (error) {
    throw toStorageError(error, { op: 'putStream', key: p.key, signal });
  }

  // Fires when the caller aborts or a part fails, stopping every part still in flight.
  const internal = new AbortController();
  const onAbort = (): void => internal.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const limiter = new ConcurrencyLimiter(p.queueSize);
  const digests: Buffer[] = [];
  const etags: string[] = [];
  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  let size = 0;
  try {
    let part = first;
    for (let partNumber = 1; ; partNumber++) {
      if (partNumber > MAX_PARTS) {
        throw new StorageError(
          'HADB_STORAGE_REJECTED',
          `S3 putStream "${p.key}": more than ${MAX_PARTS} parts of ${partSize} bytes; pass contentLength or a larger partSize`,
        );
      }
      const release = await limiter.acquire({ signal: internal.signal });
      if (failure !== undefined) {
        release();
        break;
      }
      const index = partNumber - 1;
      const { data, buffer } = part;
      const digest = md5(data);
      digests[index] = digest;
      size += data.length;
      const task: Promise<void> = uploadPart(ctx, p, uploadId, partNumber, data, digest, internal.signal)
        .then((etag) => {
          etags[index] = etag;
          // Stored: the server has every byte, so the buffer can hold the next part. (A failed
          // request may still be flushing it to a dying socket, so failed parts' buffers are dropped.)
          if (buffer !== undefined) pool.give(buffer);
        })
        .catch((error: unknown) => {
          failure ??= error;
          internal.abort();
        })
        .finally(() => {
          release();
          inflight.delete(task);
        });
      inflight.add(task);
      if (part.last) break;
      part = await reader.read(pool);
      if (failure !== undefined) break;
    }
    await Promise.all(inflight);
    if (signal?.aborted) throw abortedError(signal, 'putStream');
    if (failure !== undefined) throw failure;
    checkLength(p, size);
  } catch (error) {
    // Record the first failure before stopping the other parts, whose aborts are only its echo.
    failure ??= error;
    internal.abort();
    await Promise.allSettled(inflight);
    await abortUpload(ctx, p.fullKey, uploadId);
    signal?.removeEventListener('abort', onAbort);
    if (signal?.aborted) throw abortedError(signal, 'putStream');
    throw toStorageError(failure, { op: 'putStream', key: p.key });
  }
  signal?.removeEventListener('abort', onAbort);

  const parts = etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 }));
  const expectedEtag = multipartEtag(digests);
  const result = await complete(ctx, p, uploadId, parts, expectedEtag);
  return result === 'lost' ? { success: false } : { success: true, etag: result, size };
}

/**
 * CompleteMultipartUpload, retried on transient failures. A repeated Complete may find the upload
 * already completed (200 again on Ceph, NoSuchUpload or, with If-None-Match, 412 elsewhere): after
 * an uncertain attempt the object is re-read and accepted when it carries this upload's etag
 * (for `ifAbsent` that is `HADB_STORAGE_AMBIGUOUS`: identical bytes could be another writer's).
 * Returns the etag, or `'lost'` when `ifAbsent` found the key taken.
 */
async function complete(
  ctx: S3Context,
  p: PutStreamParams,
  uploadId: string,
  parts: { ETag: string; PartNumber: number }[],
  expectedEtag: string,
): Promise<string | 'lost'> {
  const { signal, key } = p;
  const what = 'putStream (complete)';
  let uncertain = false;
  const resolveUncertain = async (cause: unknown): Promise<string | 'lost'> => {
    const head = await headObject(ctx, p.fullKey, key, signal, what);
    if (head !== null && sameEtag(head.etag, expectedEtag)) {
      if (p.ifAbsent) throw ambiguous(key, cause);
      return head.etag;
    }
    if (p.ifAbsent && head !== null) return 'lost';
    throw ambiguous(key, cause);
  };
  for (let attempt = 0; ; attempt++) {
    try {
      if (signal?.aborted) throw abortedError(signal, 'putStream');
      const out = await ctx.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: ctx.bucket,
          Key: p.fullKey,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          ...(p.ifAbsent ? { IfNoneMatch: '*' } : {}),
        }),
        { abortSignal: signal },
      );
      // Ceph RGW 16 answers the first Complete with an empty ETag: the computed one is the same.
      return out.ETag === undefined || out.ETag === '' ? expectedEtag : normalizeEtag(out.ETag);
    } catch (error) {
      if (signal?.aborted) {
        await abortUpload(ctx, p.fullKey, uploadId);
        throw abortedError(signal, 'putStream');
      }
      if (p.ifAbsent && isPreconditionFailure(error)) {
        if (uncertain) return resolveUncertain(error);
        await abortUpload(ctx, p.fullKey, uploadId);
        return 'lost';
      }
      if (uncertain && isMissing(error)) return resolveUncertain(error);
      if (!isRetryableS3Error(error) || attempt >= ctx.requester.maxRetries) {
        if (uncertain || (!isRequestNotSent(error) && httpStatusOf(error) === undefined)) {
          return resolveUncertain(error);
        }
        await abortUpload(ctx, p.fullKey, uploadId);
        throw toStorageError(error, { op: 'putStream', key, signal });
      }
      if (!isRequestNotSent(error)) uncertain = true;
      await ctx.requester.backoff('completeMultipartUpload', attempt, error, signal).catch((e: unknown) => {
        throw signal?.aborted ? abortedError(signal, 'putStream') : e;
      });
    }
  }
}

function ambiguous(key: string, cause: unknown): StorageError {
  return new StorageError(
    'HADB_STORAGE_AMBIGUOUS',
    `S3 putStream "${key}": outcome unknown (completing the upload failed after it may have taken effect); re-read to decide`,
    { cause },
  );
}
