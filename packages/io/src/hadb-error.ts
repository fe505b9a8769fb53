/**
 * The one error base of every hadb package. Every error a hadb package throws on purpose is a
 * `HadbError` (or a subclass) with a stable `code` of the form `HADB_<PACKAGE>_<REASON>`; match on
 * `code`, never on messages. Messages never contain credentials or key material.
 *
 * Reasons shared by every package use the same suffix: `ABORTED` (the caller's signal fired),
 * `CLOSED` (used after `close()`), `FENCED` (the node's term ended), `INVALID_CONFIG` (bad options,
 * always reported at construction), `TIMEOUT` (a deadline passed), `CORRUPT` (bytes failed
 * verification), `UNAVAILABLE` (transient; retry may help).
 */

/** Brand shared by every hadb error class, so checks work across duplicate installs. */
export const HADB_ERROR_BRAND: unique symbol = Symbol.for('hadb.error') as never;

/** Options of {@link HadbError}. */
export interface HadbErrorOptions {
  readonly cause?: unknown;
}

/** Base class of every hadb error. Subclasses set `name` and narrow `code`. */
export class HadbError<Code extends string = string> extends Error {
  readonly [HADB_ERROR_BRAND] = true;
  override readonly name: string = 'HadbError';
  readonly code: Code;

  constructor(code: Code, message: string, options: HadbErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** True for any hadb error of any package (optionally with `code`), also across duplicate installs. */
export function isHadbError(value: unknown, code?: string): value is HadbError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[HADB_ERROR_BRAND] === true &&
    typeof (value as { code?: unknown }).code === 'string' &&
    (code === undefined || (value as { code: string }).code === code)
  );
}

/**
 * Makes the type guard of one error class: true for a hadb error whose `name` is `name`
 * (optionally with one of its codes). Works across duplicate installs, where `instanceof` fails.
 *
 * @example
 * export const isStorageError = errorGuard<StorageError, StorageErrorCode>('StorageError');
 */
export function errorGuard<E extends HadbError<C>, C extends string = E['code']>(
  name: string,
): (value: unknown, code?: C) => value is E {
  return (value: unknown, code?: C): value is E => isHadbError(value, code) && (value as Error).name === name;
}

/** A function that turns a message (and optional cause) into a package's typed error. */
export type ErrorFactory = (message: string, cause?: unknown) => Error;
