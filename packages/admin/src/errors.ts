import { HadbError, errorGuard, type HadbErrorOptions } from '@hadb/io';

/**
 * Stable codes of {@link AdminError}:
 * - `HADB_ADMIN_INVALID_CONFIG`: bad options (reported at construction).
 * - `HADB_ADMIN_INSECURE_BIND`: a non-loopback `host` without a `token`.
 * - `HADB_ADMIN_LISTEN_FAILED`: the server could not bind (port in use, permission).
 * - `HADB_ADMIN_CLOSED`: used after `close()`.
 * - `HADB_ADMIN_ABORTED`: the caller's signal fired.
 * - `HADB_ADMIN_TIMEOUT`: a source or delivery did not answer in time.
 * - `HADB_ADMIN_UNAVAILABLE`: a webhook or heartbeat endpoint failed (non-2xx or network).
 * - `HADB_ADMIN_INVALID_SIGNATURE`: {@link verifyWebhookSignature} rejected a body.
 */
export type AdminErrorCode =
  | 'HADB_ADMIN_INVALID_CONFIG'
  | 'HADB_ADMIN_INSECURE_BIND'
  | 'HADB_ADMIN_LISTEN_FAILED'
  | 'HADB_ADMIN_CLOSED'
  | 'HADB_ADMIN_ABORTED'
  | 'HADB_ADMIN_TIMEOUT'
  | 'HADB_ADMIN_UNAVAILABLE'
  | 'HADB_ADMIN_INVALID_SIGNATURE';

/** Every error `@hadb/admin` throws on purpose. Messages never contain tokens or secrets. */
export class AdminError extends HadbError<AdminErrorCode> {
  override readonly name = 'AdminError';
  /** HTTP status of a failed delivery (lets `@hadb/io` classify it for retries). */
  readonly status: number | undefined;

  constructor(code: AdminErrorCode, message: string, options: HadbErrorOptions & { status?: number } = {}) {
    super(code, message, options);
    this.status = options.status;
  }
}

/** True for an {@link AdminError} (optionally with `code`), also across duplicate installs. */
export const isAdminError = errorGuard<AdminError, AdminErrorCode>('AdminError');

/** The `INVALID_CONFIG` factory handed to `configChecker`. */
export const invalidConfig = (message: string, cause?: unknown): AdminError =>
  new AdminError('HADB_ADMIN_INVALID_CONFIG', message, { cause });

/** The `ABORTED` factory handed to the abort helpers. */
export const aborted = (message: string, cause?: unknown): AdminError =>
  new AdminError('HADB_ADMIN_ABORTED', message, { cause });
