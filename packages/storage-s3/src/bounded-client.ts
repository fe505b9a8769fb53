import type { S3Client } from '@aws-sdk/client-s3';
import { type Clock, withTimeout } from '@hadb/io';
import { STORAGE_DEADLINE } from '@hadb/storage';

/** The `abortSignal` option of `S3Client.send`, which may be absent. */
interface SendOptions {
  readonly abortSignal?: AbortSignal | undefined;
  readonly [option: string]: unknown;
}

/** `GetObjectCommand` → `GetObject`, for the timeout message. */
function operationName(command: unknown): string {
  const name = (command as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name !== '' ? name.replace(/Command$/, '') : 'request';
}

/**
 * Wraps `client` so that every `send` runs under a per-request deadline of `timeoutMs` on
 * `clock` (io's `withTimeout`): when it passes, the SDK call is aborted through its
 * `abortSignal` and the send rejects with `HADB_STORAGE_TIMEOUT` at once; the caller's own
 * `abortSignal` still aborts it first (`HADB_STORAGE_ABORTED`, or the hadb error it was aborted
 * with). The deadline covers the request up to the response headers; a response body is read
 * under the client's socket idle timeout. Every other member is the client's own.
 */
export function boundedClient(client: S3Client, clock: Clock, timeoutMs: number): S3Client {
  const send = (command: unknown, options?: SendOptions): Promise<unknown> =>
    withTimeout(
      clock,
      timeoutMs,
      `S3 ${operationName(command)}`,
      STORAGE_DEADLINE,
      (signal) =>
        (client.send as (c: unknown, o: SendOptions) => Promise<unknown>)(command, { ...options, abortSignal: signal }),
      { signal: options?.abortSignal },
    );
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === 'send') return send;
      return Reflect.get(target, property, receiver);
    },
  });
}
