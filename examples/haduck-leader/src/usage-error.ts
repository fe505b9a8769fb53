/**
 * A mistake in what the user set (a flag, a variable, a command): printed as one line naming the
 * setting, exit status 2.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
