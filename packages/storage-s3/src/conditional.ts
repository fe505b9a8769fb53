import { PutObjectCommand } from '@aws-sdk/client-s3';
import { type CircuitOutcome, classifyError, httpStatusOf, isRequestNotSent } from '@hadb/io';
import { type CasResult, StorageError } from '@hadb/storage';
import type { S3Context } from './context.js';
import { abortedError, isMissing, isPreconditionFailure, isRetryableS3Error, toStorageError } from './errors.js';
import { md5, normalizeEtag, sameEtag, simpleEtag, unquoteEtag } from './etag.js';
import { getObject, headObject } from './ops.js';

/** The precondition of a conditional PUT. */
export type Condition = { readonly kind: 'absent' } | { readonly kind: 'match'; readonly etag: string };

/**
 * What a re-read says about a conditional PUT whose response was lost or was a 5xx:
 * - `lost`: the key holds something other than these bytes (or, for If-Match, is gone): this call
 *   did not win, or its object was already replaced; either way the caller does not own the key.
 * - `maybe-ours`: the key holds exactly these bytes. This call may have won, or another writer
 *   stored identical bytes: the outcome cannot be told apart.
 * - `not-applied`: the precondition still holds (key absent / still the named version), so this
 *   call's write is not in effect; repeating it is safe, because the condition still guards it.
 */
type Verdict = 'lost' | 'maybe-ours' | 'not-applied';

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

async function reread(
  ctx: S3Context,
  fullKey: string,
  key: string,
  data: Uint8Array,
  expectedEtag: string,
  condition: Condition,
  signal: AbortSignal | undefined,
): Promise<Verdict> {
  const head = await headObject(ctx, fullKey, key, signal, 'conditional put (re-read)');
  if (head === null) return condition.kind === 'absent' ? 'not-applied' : 'lost';
  if (condition.kind === 'match' && sameEtag(head.etag, condition.etag)) return 'not-applied';
  if (head.size !== data.length) return 'lost';
  if (sameEtag(head.etag, expectedEtag)) return 'maybe-ours';
  // The server's etags are not plain MD5s (SSE-KMS, some S3-compatibles): compare the bytes.
  const current = await getObject(ctx, fullKey, key, signal, 'conditional put (re-read)');
  if (current === null) return condition.kind === 'absent' ? 'not-applied' : 'lost';
  return equalBytes(current.data, data) ? 'maybe-ours' : 'lost';
}

function ambiguous(what: string, key: string, cause: unknown): StorageError {
  return new StorageError(
    'HADB_STORAGE_AMBIGUOUS',
    `S3 ${what} "${key}": outcome unknown (the request failed after it may have reached the server, and the key now ` +
      'holds exactly these bytes, which another writer may also have written); re-read to decide',
    { cause },
  );
}

/**
 * A conditional PUT (`If-None-Match: *` or `If-Match`) that never reports a false winner and
 * resolves lost responses by re-reading instead of guessing:
 *
 * | response                               | outcome                                                         |
 * |----------------------------------------|-----------------------------------------------------------------|
 * | 2xx                                    | `{ success: true, etag }`                                       |
 * | 412, 409, (If-Match) 404               | `{ success: false }`, or, after an earlier uncertain attempt, re-read |
 * | connect failure (request not sent)     | retried with backoff; out of retries → `UNAVAILABLE`            |
 * | 5xx, reset, timeout (maybe applied)    | re-read: `lost` → `{ success: false }`; `maybe-ours` → `AMBIGUOUS`; `not-applied` → retried (the condition still guards it); out of retries → `UNAVAILABLE` if the server answered, `AMBIGUOUS` if not |
 * | 401/403, other 4xx                     | `AUTH` / `REJECTED` / `UNSUPPORTED` (501)                        |
 * | abort                                  | `ABORTED` (the write may or may not have been applied)           |
 *
 * Ceph RGW answers racing conditional PUTs that lose at the OSD with 500 (ECANCELED); the re-read
 * finds the winner's object and reports `{ success: false }`.
 */
export async function conditionalPut(
  ctx: S3Context,
  fullKey: string,
  key: string,
  data: Uint8Array,
  condition: Condition,
  signal: AbortSignal | undefined,
): Promise<CasResult> {
  const what = condition.kind === 'absent' ? 'putIfAbsent' : 'putIfMatch';
  const digest = md5(data);
  const expectedEtag = simpleEtag(digest);
  const header =
    condition.kind === 'absent'
      ? { IfNoneMatch: '*' }
      : { IfMatch: ctx.unquotedIfMatch ? unquoteEtag(condition.etag) : condition.etag };
  const { requester } = ctx;
  let uncertain = false;
  let lastError: unknown;

  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw abortedError(signal, what);
    const permit = requester.permit();
    if (permit === null) throw toStorageError(requester.openError(lastError), { op: what, key });
    let etag: string | undefined;
    try {
      const out = await ctx.client.send(
        new PutObjectCommand({
          Bucket: ctx.bucket,
          Key: fullKey,
          Body: data,
          ContentLength: data.length,
          ContentMD5: digest.toString('base64'),
          ...header,
        }),
        { abortSignal: signal },
      );
      etag = out.ETag;
    } catch (error) {
      lastError = error;
      if (signal?.aborted) {
        requester.settle(permit, 'neutral');
        throw abortedError(signal, what);
      }
      if (isPreconditionFailure(error) || (condition.kind === 'match' && isMissing(error))) {
        requester.settle(permit, 'success');
        if (!uncertain) return { success: false };
        const verdict = await reread(ctx, fullKey, key, data, expectedEtag, condition, signal).catch((e: unknown) => {
          throw signal?.aborted ? abortedError(signal, what) : ambiguous(what, key, e);
        });
        if (verdict === 'maybe-ours') throw ambiguous(what, key, error);
        return { success: false };
      }
      const cls = classifyError(error);
      const retryable = isRetryableS3Error(error) || cls === 'unknown';
      if (!retryable) {
        requester.settle(permit, cls === 'aborted' ? 'neutral' : 'success');
        throw toStorageError(error, { op: what, key, signal });
      }
      const status = httpStatusOf(error);
      // Not sent, or refused before it was applied (a 4xx such as BadDigest): repeat as is.
      const notApplied = isRequestNotSent(error) || (status !== undefined && status < 500);
      let outcome: CircuitOutcome = 'failure';
      if (!notApplied) {
        uncertain = true;
        let verdict: Verdict;
        try {
          verdict = await reread(ctx, fullKey, key, data, expectedEtag, condition, signal);
        } catch (e) {
          requester.settle(permit, 'failure');
          if (signal?.aborted) throw abortedError(signal, what);
          throw ambiguous(what, key, e);
        }
        if (verdict === 'lost') {
          // The server works: it stored someone else's write (RGW's 500 for a lost race).
          requester.settle(permit, 'success');
          return { success: false };
        }
        if (verdict === 'maybe-ours') {
          requester.settle(permit, 'neutral');
          throw ambiguous(what, key, error);
        }
        outcome = 'failure';
      }
      requester.settle(permit, outcome);
      if (attempt >= requester.maxRetries) {
        // Out of retries with the write not in effect. If the server answered, it is final.
        if (notApplied || status !== undefined) throw toStorageError(error, { op: what, key, signal });
        throw ambiguous(what, key, error);
      }
      await requester.backoff(what, attempt, error, signal).catch((e: unknown) => {
        throw signal?.aborted ? abortedError(signal, what) : e;
      });
      continue;
    }
    requester.settle(permit, 'success');
    if (etag === undefined || etag === '') {
      const head = await headObject(ctx, fullKey, key, signal, what);
      if (head === null)
        throw new StorageError('HADB_STORAGE_PROTOCOL', `S3 ${what} "${key}": no ETag, and the object is gone`);
      return { success: true, etag: head.etag };
    }
    return { success: true, etag: normalizeEtag(etag) };
  }
}
