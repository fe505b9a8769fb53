import { randomUUID } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { classifyError, httpStatusOf, type OpOptions } from '@hadb/io';
import { StorageError } from '@hadb/storage';
import type { S3Context } from './context.js';
import { abortedError, s3ErrorName, toStorageError } from './errors.js';
import { normalizeEtag, unquoteEtag } from './etag.js';
import { getObject } from './ops.js';

/**
 * - `atomic`: every check passed: conditional PUTs are enforced, the configured `If-Match` form
 *   works, and racing writers produced exactly one winner whose bytes were stored.
 * - `not-enforced`: the server ignored a condition (wrote over an existing key, accepted a wrong
 *   etag) or let more than one racer win. Using it for leases would allow two leaders.
 * - `unsupported`: the server refuses conditional headers (501 / NotImplemented, e.g. Backblaze B2).
 * - `misconfigured`: conditions are enforced, but a correct `If-Match` is refused in the configured
 *   form (for Ceph RGW <= 16 with `unquotedIfMatch: false` every renewal would fail with 412);
 *   `advice` names the option to change.
 * - `inconclusive`: a request failed for another reason (network, 5xx); run the probe again.
 */
export type ConditionalWriteVerdict = 'atomic' | 'not-enforced' | 'unsupported' | 'misconfigured' | 'inconclusive';

/** One request of the probe and what it showed. */
export interface ProbeCheck {
  readonly name: string;
  /** What a conforming server answers, e.g. `"412"`. */
  readonly expected: string;
  /** What this server answered (HTTP status, S3 error code or a summary). */
  readonly observed: string;
  readonly passed: boolean;
}

/** Result of `S3StorageBackend.probeConditionalWrites()`. */
export interface ConditionalWriteProbe {
  readonly verdict: ConditionalWriteVerdict;
  /** `verdict === 'atomic'`. */
  readonly atomic: boolean;
  readonly checks: readonly ProbeCheck[];
  /** What to change, when something can be changed. */
  readonly advice: string | undefined;
  /**
   * Whether CompleteMultipartUpload honours `If-None-Match: *` (needed by the option
   * `conditionalMultipartWrites`). Ceph RGW 16 ignores it.
   */
  readonly multipartIfNoneMatch: 'enforced' | 'ignored' | 'error' | 'not-checked';
}

/** Options of the probe. */
export interface ProbeOptions extends OpOptions {
  /** Concurrent writers in each race check. Default 8; 0 skips the races. */
  readonly racers?: number | undefined;
  /** Also check If-None-Match on CompleteMultipartUpload. Default true. */
  readonly checkMultipart?: boolean | undefined;
}

interface ProbeContext extends ProbeOptions {
  readonly prefix: string;
  readonly conditionalMultipartWrites: boolean;
}

interface Raw {
  readonly status: number | undefined;
  readonly etag?: string | undefined;
  readonly observed: string;
}

type Failure = 'not-enforced' | 'misconfigured' | 'inconclusive' | 'unsupported';

const WRONG_ETAG = '"00000000000000000000000000000000"';

function observe(error: unknown): { status: number | undefined; observed: string } {
  const status = httpStatusOf(error);
  const name = s3ErrorName(error);
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : undefined;
  const observed = [status === undefined ? undefined : String(status), name, code]
    .filter((x) => x !== undefined)
    .join(' ');
  return { status, observed: observed || 'error' };
}

/** Runs the probe (see `S3StorageBackend.probeConditionalWrites`). Probe objects are deleted afterwards. */
export async function probeConditionalWrites(ctx: S3Context, options: ProbeContext): Promise<ConditionalWriteProbe> {
  const { signal } = options;
  const racers = options.racers ?? 8;
  const base = `${options.prefix}.hadb-probe/${randomUUID()}/`;
  const written = new Set<string>();
  const checks: ProbeCheck[] = [];
  const failures = new Set<Failure>();
  const advice: string[] = [];
  let multipartIfNoneMatch: ConditionalWriteProbe['multipartIfNoneMatch'] = 'not-checked';
  const form = (etag: string, unquoted = ctx.unquotedIfMatch): string => (unquoted ? unquoteEtag(etag) : etag);

  const record = (name: string, expected: string, observed: string, passed: boolean, failure: Failure): boolean => {
    checks.push({ name, expected, observed, passed });
    if (!passed) failures.add(failure);
    return passed;
  };

  const put = async (key: string, body: string, headers: { IfNoneMatch?: string; IfMatch?: string }): Promise<Raw> => {
    written.add(key);
    try {
      const out = await ctx.client.send(
        new PutObjectCommand({ Bucket: ctx.bucket, Key: key, Body: Buffer.from(body), ...headers }),
        { abortSignal: signal },
      );
      const status = out.$metadata.httpStatusCode ?? 200;
      return { status, etag: out.ETag ? normalizeEtag(out.ETag) : undefined, observed: String(status) };
    } catch (error) {
      if (signal?.aborted) throw abortedError(signal, 'probeConditionalWrites');
      if (classifyError(error) === 'auth') throw toStorageError(error, { op: 'probeConditionalWrites', key });
      return observe(error);
    }
  };

  /** A failed condition: 412, or 409 (conflict) / 404 (If-Match on a missing key, AWS). */
  const refused = (r: Raw, allow404 = false): boolean =>
    r.status === 412 || r.status === 409 || (allow404 && r.status === 404);
  /** The request went wrong in a way that says nothing about conditions. */
  const broken = (r: Raw): boolean => r.status === undefined || r.status >= 500;

  const race = async (
    name: string,
    key: string,
    headers: { IfNoneMatch?: string; IfMatch?: string },
  ): Promise<string | undefined> => {
    const bodies = Array.from({ length: racers }, (_, i) => `${name} racer ${i} ${randomUUID()}`);
    const results = await Promise.all(bodies.map((body) => put(key, body, headers)));
    const winners = results.flatMap((r, i) => (r.status === 200 ? [i] : []));
    const stray = results.filter((r) => r.status !== 200 && !refused(r) && !broken(r));
    if (winners.length !== 1) {
      const failure = winners.length === 0 ? 'inconclusive' : 'not-enforced';
      record(name, '1 winner', `${winners.length} winners`, false, failure);
      return undefined;
    }
    const stored = await getObject(ctx, key, key, signal, 'probeConditionalWrites');
    const winner = winners[0] as number;
    const storedWinner = stored !== null && Buffer.from(stored.data).toString() === bodies[winner];
    record(
      name,
      '1 winner, its bytes stored',
      `1 winner${storedWinner ? '' : ', other bytes stored'}${stray.length > 0 ? `, also ${stray[0]?.observed}` : ''}`,
      storedWinner && stray.length === 0,
      storedWinner ? 'inconclusive' : 'not-enforced',
    );
    return results[winner]?.etag;
  };

  try {
    const a = `${base}a`;
    const created = await put(a, 'probe v1', { IfNoneMatch: '*' });
    if (created.status === 200 && created.etag !== undefined) {
      record('If-None-Match: * on a new key', '200', created.observed, true, 'inconclusive');
    } else {
      const unsupported =
        created.status === 501 || (created.status === 400 && created.observed.includes('NotImplemented'));
      record(
        'If-None-Match: * on a new key',
        '200',
        created.observed,
        false,
        unsupported ? 'unsupported' : 'inconclusive',
      );
      if (unsupported) advice.push('this server does not implement conditional PUT; use another store for leases');
      return finish();
    }
    let etag = created.etag;

    const again = await put(a, 'probe v2', { IfNoneMatch: '*' });
    record(
      'If-None-Match: * on an existing key',
      '412',
      again.observed,
      refused(again),
      broken(again) ? 'inconclusive' : 'not-enforced',
    );

    const wrong = await put(a, 'probe v3', { IfMatch: form(WRONG_ETAG) });
    record(
      'If-Match with a wrong etag',
      '412',
      wrong.observed,
      refused(wrong),
      broken(wrong) ? 'inconclusive' : 'not-enforced',
    );

    const missing = await put(`${base}missing`, 'probe v4', { IfMatch: form(etag) });
    record(
      'If-Match on a missing key',
      '412 or 404',
      missing.observed,
      refused(missing, true),
      broken(missing) ? 'inconclusive' : 'not-enforced',
    );

    const swapped = await put(a, 'probe v5', { IfMatch: form(etag) });
    const formWorks = swapped.status === 200;
    record(
      `If-Match with the current etag (${ctx.unquotedIfMatch ? 'unquoted' : 'quoted'})`,
      '200',
      swapped.observed,
      formWorks,
      broken(swapped) ? 'inconclusive' : 'misconfigured',
    );
    let next = swapped.etag;
    if (!formWorks && !broken(swapped)) {
      const other = await put(a, 'probe v5', { IfMatch: form(etag, !ctx.unquotedIfMatch) });
      const otherWorks = other.status === 200;
      checks.push({
        name: `If-Match with the current etag (${ctx.unquotedIfMatch ? 'quoted' : 'unquoted'}, diagnosis)`,
        expected: '200',
        observed: other.observed,
        passed: otherWorks,
      });
      if (otherWorks) {
        advice.push(
          `the server accepts If-Match only ${ctx.unquotedIfMatch ? 'with' : 'without'} quotes: set unquotedIfMatch: ${!ctx.unquotedIfMatch}` +
            (ctx.unquotedIfMatch ? '' : ' (Ceph RGW <= 16)'),
        );
        next = other.etag;
      } else {
        advice.push('the server refuses the current etag in If-Match in both quoted and unquoted form');
      }
    }
    if (next !== undefined && next !== etag) {
      const stale = await put(a, 'probe v6', { IfMatch: form(etag) });
      record(
        'If-Match with a replaced etag',
        '412',
        stale.observed,
        refused(stale),
        broken(stale) ? 'inconclusive' : 'not-enforced',
      );
      etag = next;
    }

    if (racers > 0) {
      const key = `${base}race`;
      const winnerEtag = await race(`${racers} racing If-None-Match: * writers`, key, { IfNoneMatch: '*' });
      if (winnerEtag !== undefined && formWorks) {
        await race(`${racers} racing If-Match writers`, key, { IfMatch: form(winnerEtag) });
      }
    }

    if (options.checkMultipart !== false) {
      multipartIfNoneMatch = await probeMultipart(ctx, a, signal);
      const needed = options.conditionalMultipartWrites;
      checks.push({
        name: 'If-None-Match: * on CompleteMultipartUpload over an existing key',
        expected: '412',
        observed: multipartIfNoneMatch,
        passed: multipartIfNoneMatch === 'enforced',
      });
      if (needed && multipartIfNoneMatch !== 'enforced') {
        failures.add(multipartIfNoneMatch === 'ignored' ? 'not-enforced' : 'inconclusive');
        advice.push(
          'the server does not enforce If-None-Match on CompleteMultipartUpload: set conditionalMultipartWrites: false',
        );
      }
    }
    return finish();
  } finally {
    await cleanup(ctx, [...written]);
  }

  function finish(): ConditionalWriteProbe {
    const order: Failure[] = ['not-enforced', 'unsupported', 'misconfigured', 'inconclusive'];
    const verdict: ConditionalWriteVerdict = order.find((f) => failures.has(f)) ?? 'atomic';
    return {
      verdict,
      atomic: verdict === 'atomic',
      checks,
      advice: advice.length > 0 ? advice.join('; ') : undefined,
      multipartIfNoneMatch,
    };
  }
}

async function probeMultipart(
  ctx: S3Context,
  existingKey: string,
  signal: AbortSignal | undefined,
): Promise<'enforced' | 'ignored' | 'error'> {
  let uploadId: string | undefined;
  let completed = false;
  try {
    const created = await ctx.client.send(new CreateMultipartUploadCommand({ Bucket: ctx.bucket, Key: existingKey }), {
      abortSignal: signal,
    });
    uploadId = created.UploadId;
    if (uploadId === undefined) return 'error';
    const part = await ctx.client.send(
      new UploadPartCommand({
        Bucket: ctx.bucket,
        Key: existingKey,
        UploadId: uploadId,
        PartNumber: 1,
        Body: Buffer.from('mp'),
      }),
      { abortSignal: signal },
    );
    try {
      await ctx.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: ctx.bucket,
          Key: existingKey,
          UploadId: uploadId,
          IfNoneMatch: '*',
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
        }),
        { abortSignal: signal },
      );
      completed = true;
      return 'ignored';
    } catch (error) {
      const status = httpStatusOf(error);
      return status === 412 || status === 409 ? 'enforced' : 'error';
    }
  } catch (error) {
    if (signal?.aborted) throw abortedError(signal, 'probeConditionalWrites');
    if (classifyError(error) === 'auth') throw toStorageError(error, { op: 'probeConditionalWrites' });
    return 'error';
  } finally {
    if (uploadId !== undefined && !completed) {
      await ctx.client
        .send(new AbortMultipartUploadCommand({ Bucket: ctx.bucket, Key: existingKey, UploadId: uploadId }))
        .catch(() => undefined);
    }
  }
}

async function cleanup(ctx: S3Context, keys: string[]): Promise<void> {
  if (keys.length === 0) return;
  try {
    await ctx.client.send(
      new DeleteObjectsCommand({ Bucket: ctx.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }),
      { abortSignal: AbortSignal.timeout(30_000) },
    );
  } catch {
    // Best effort: leftover probe objects live under `.hadb-probe/` and are harmless.
  }
}

/** The error `assertAtomicConditionalWrites` throws for a probe that did not find atomic writes. */
export function unsupportedError(result: ConditionalWriteProbe): StorageError {
  const failed = result.checks
    .filter((c) => !c.passed)
    .map((c) => `${c.name}: expected ${c.expected}, got ${c.observed}`);
  return new StorageError(
    'HADB_STORAGE_UNSUPPORTED',
    `S3 conditional writes cannot be trusted for coordination on this server (verdict: ${result.verdict})` +
      (failed.length > 0 ? `; failed checks: ${failed.join('; ')}` : '') +
      (result.advice === undefined ? '' : `; advice: ${result.advice}`) +
      '. hadb has no non-atomic fallback: use a server with atomic conditional PUT or another lease store.',
  );
}
