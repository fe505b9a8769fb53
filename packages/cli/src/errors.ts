import { HadbError, errorGuard } from '@hadb/io';

/**
 * Codes of {@link CliError}. Each maps to one exit code (see `exit-codes.ts`):
 * `USAGE`/`INVALID_CONFIG`/`MISSING_BACKEND` → 2, `DATABASE` → 3, `STORAGE` → 4, `CORRUPT` → 5,
 * `RESTORE` → 6, anything else → 1.
 */
export type CliErrorCode =
  | 'HADB_CLI_USAGE'
  | 'HADB_CLI_INVALID_CONFIG'
  | 'HADB_CLI_MISSING_BACKEND'
  | 'HADB_CLI_DATABASE'
  | 'HADB_CLI_STORAGE'
  | 'HADB_CLI_CORRUPT'
  | 'HADB_CLI_RESTORE'
  | 'HADB_CLI_ABORTED';

/** An error of the `hadb` command line; its message is shown to the user as one line. */
export class CliError extends HadbError<CliErrorCode> {
  override readonly name = 'CliError';
}

/** True for a {@link CliError} (optionally with `code`), also across duplicate installs. */
export const isCliError = errorGuard<CliError, CliErrorCode>('CliError');
