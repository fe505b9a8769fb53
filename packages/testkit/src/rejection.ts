/**
 * Capturing errors in tests: the error a promise or function fails with, or its `code`. Each
 * fails the test (throws) when nothing was thrown, so an assertion on the result cannot pass by
 * accident.
 */

/** An error with the `code` of hadb errors (and Node system errors). */
export type CodedError = Error & { readonly code: string; readonly [field: string]: unknown };

/**
 * The error `action` rejects (or throws) with: a promise, or a function returning a value or a
 * promise. Throws when it succeeds.
 */
export async function rejection<E = CodedError>(action: Promise<unknown> | (() => unknown)): Promise<E> {
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (error) {
    return error as E;
  }
  throw new Error('expected a rejection, but it succeeded');
}

/** The error a synchronous `fn` throws. Throws when it returns. */
export function thrown<E = CodedError>(fn: () => unknown): E {
  try {
    fn();
  } catch (error) {
    return error as E;
  }
  throw new Error('expected a throw, but it returned');
}

/**
 * The `code` of the error `action` fails with; `'resolved'` when it succeeds and
 * `'uncoded: <error>'` when the error has no string code, so both show up in a failed assertion.
 */
export async function codeOf(action: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof action === 'function' ? action() : action);
    return 'resolved';
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === 'string' ? code : `uncoded: ${String(error)}`;
  }
}
