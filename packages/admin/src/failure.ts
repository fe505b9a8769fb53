import { describeError, isHadbError } from '@hadb/io';
import type { AdminEvent } from './source.js';

/** The log-safe description of a failure that an event carries. */
export interface EventFailure {
  /** The typed code: the error's own `code` (`HADB_*`, or Node's `E*`), else its name. */
  readonly code: string;
  /**
   * The deepest `HADB_*` code of the `cause` chain when it differs from `code` (a command wraps
   * an engine's checksum failure in its own restore error); `undefined` otherwise.
   */
  readonly causeCode: string | undefined;
  /** `<code>: <first line of the message>` (the code once), URL credentials masked. */
  readonly error: string;
}

/** `scheme://user:password@` → `scheme://****@`. */
const URL_CREDENTIALS = /(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi;

/**
 * Describes `err` for an event payload with `@hadb/io`'s {@link describeError}: its code, name and
 * first message line only — never a stack, the cause chain's messages, request options or
 * credentials, so a payload can go to a third-party webhook.
 */
export function eventFailure(err: unknown): EventFailure {
  const d = describeError(err);
  const code = d.code ?? d.name;
  const message = (d.message.split('\n')[0] ?? '').trim().replace(URL_CREDENTIALS, '$1****@');
  let causeCode: string | undefined;
  let e: unknown = (err as { cause?: unknown } | null)?.cause;
  for (let depth = 0; depth < 8 && e !== undefined && e !== null; depth++) {
    if (isHadbError(e) && e.code !== code) causeCode = e.code;
    e = (e as { cause?: unknown }).cause;
  }
  const error = message === '' ? code : message.startsWith(code) ? message : `${code}: ${message}`;
  return { code, causeCode, error };
}

/**
 * The `restore_failed` event of a failed restore of `db`: `error` is `<code>: <message>` (see
 * {@link eventFailure}), `context` carries `code`, `cause_code` when a deeper code differs, and
 * the caller's `context` (what was being restored, where).
 */
export function restoreFailedEvent(
  db: string,
  err: unknown,
  context: Readonly<Record<string, unknown>> = {},
): AdminEvent {
  const f = eventFailure(err);
  return {
    type: 'restore_failed',
    db,
    error: f.error,
    context: { ...context, code: f.code, ...(f.causeCode === undefined ? {} : { cause_code: f.causeCode }) },
  };
}
