import { isHadbError } from '@hadb/io';
import { CommanderError } from 'commander';
import type { CliErrorCode } from './errors.js';

/** Process exit codes, the same as walrust's. */
export const EXIT = Object.freeze({
  OK: 0,
  GENERAL: 1,
  CONFIG: 2,
  DATABASE: 3,
  STORAGE: 4,
  INTEGRITY: 5,
  RESTORE: 6,
});

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

const CLI: Record<CliErrorCode, ExitCode> = {
  HADB_CLI_USAGE: EXIT.CONFIG,
  HADB_CLI_INVALID_CONFIG: EXIT.CONFIG,
  HADB_CLI_MISSING_BACKEND: EXIT.CONFIG,
  HADB_CLI_DATABASE: EXIT.DATABASE,
  HADB_CLI_STORAGE: EXIT.STORAGE,
  HADB_CLI_CORRUPT: EXIT.INTEGRITY,
  HADB_CLI_RESTORE: EXIT.RESTORE,
  HADB_CLI_ABORTED: EXIT.GENERAL,
};

/** Reasons (code suffixes of any hadb package) that mean stored bytes failed verification. */
const INTEGRITY =
  /_(CORRUPT|CORRUPT_SEGMENT|CHAIN_BROKEN|CHECKSUM_MISMATCH|SEQ_MISMATCH|GAP|SEQUENCE_GAP|INVALID_MAGIC|TRUNCATED|UNSUPPORTED_VERSION|INVALID_PAGE_ID_SIZE|NOT_CANONICAL|PAGE_TOO_LARGE|PAGE_SIZE_MISMATCH|PAGE_ID_MISMATCH|EMPTY_SEGMENT|INVALID_FLAGS|INTEGRITY)$/;
/** Reasons that concern the local database file. */
const DATABASE = /_(NOT_DUCKDB|DIVERGED|BAD_STATE|NOT_SQLITE|NOT_WAL|LOCKED|DUPLICATE)$/;

/**
 * The exit code for an error thrown by a command: by `CliError` code, then by the package of a
 * hadb error (`HADB_STORAGE_*` and lease transport failures → storage, verification failures →
 * integrity, local-file states → database), usage errors of the argument parser → config.
 */
export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.OK : EXIT.CONFIG;
  if (!isHadbError(error)) return EXIT.GENERAL;
  const code = error.code;
  if (code.startsWith('HADB_CLI_')) return CLI[code as CliErrorCode] ?? EXIT.GENERAL;
  if (code.endsWith('_INVALID_CONFIG') || code === 'HADB_ADMIN_INSECURE_BIND') return EXIT.CONFIG;
  // Encrypted storage: the wrong identity, or an identity for plaintext storage, is configuration;
  // an object bound to another key (copied) or not bound at all is integrity.
  if (code === 'HADB_STORAGE_AGE_WRONG_KEY' || code === 'HADB_STORAGE_AGE_NOT_ENCRYPTED') return EXIT.CONFIG;
  if (code === 'HADB_STORAGE_AGE_KEY_MISMATCH' || code === 'HADB_STORAGE_AGE_UNBOUND') return EXIT.INTEGRITY;
  if (code === 'HADB_CHANGESET_IO' && error.cause !== undefined) return exitCodeOf(error.cause);
  if (INTEGRITY.test(code)) return EXIT.INTEGRITY;
  if (DATABASE.test(code)) return EXIT.DATABASE;
  if (code.startsWith('HADB_STORAGE_')) return EXIT.STORAGE;
  if (/^HADB_LEASE_(UNAVAILABLE|TIMEOUT|AUTH|AMBIGUOUS|UNSUPPORTED)$/.test(code)) return EXIT.STORAGE;
  return EXIT.GENERAL;
}
