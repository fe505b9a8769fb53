import { isHadbError } from '@hadb/io';
import { LeaseError, type LeaseErrorCode, isLeaseError } from '@hadb/lease';

/** JetStream API codes of a failed expected-last-subject-sequence check (a lost CAS). */
const WRONG_LAST_SEQUENCE = new Set([10071, 10164]);

/** True when `error` is the server refusing a conditional write: a lost race, not a failure. */
export function isCasConflict(error: unknown): boolean {
  return (
    error instanceof Error &&
    error.name === 'JetStreamApiError' &&
    WRONG_LAST_SEQUENCE.has((error as Error & { code?: number }).code ?? -1)
  );
}

const AUTH_ERRORS = new Set(['AuthorizationError', 'PermissionViolationError', 'UserAuthenticationExpiredError']);

/**
 * Maps a NATS client error to a {@link LeaseError}. A timeout after a write was sent is
 * `HADB_LEASE_AMBIGUOUS` (it may have landed); a timeout of a read or delete is
 * `HADB_LEASE_TIMEOUT`; connection failures and "no responders" are `HADB_LEASE_UNAVAILABLE`; refused credentials are `HADB_LEASE_AUTH`. Hadb errors
 * (a `LeaseError`, or the hadb error a caller aborted with) pass through unchanged.
 */
export function toLeaseError(error: unknown, op: string, write: boolean): Error {
  if (write && isLeaseError(error, 'HADB_LEASE_TIMEOUT')) {
    // The deadline passed after the write may have been sent: its outcome is unknown.
    return new LeaseError('HADB_LEASE_AMBIGUOUS', `nats ${op}: outcome unknown (${error.message})`, { cause: error });
  }
  if (isHadbError(error)) return error;
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message : String(error);
  let code: LeaseErrorCode;
  if (AUTH_ERRORS.has(name)) code = 'HADB_LEASE_AUTH';
  else if (name === 'TimeoutError') code = write ? 'HADB_LEASE_AMBIGUOUS' : 'HADB_LEASE_TIMEOUT';
  else if (name === 'JetStreamNotEnabled' || name === 'JetStreamApiError' || name === 'NoResponders') {
    // The request reached no stream (or the stream refused it): nothing was written.
    code = 'HADB_LEASE_UNAVAILABLE';
  } else if (
    name === 'ClosedConnectionError' ||
    name === 'ConnectionError' ||
    name === 'DrainingConnectionError' ||
    name === 'RequestError'
  ) {
    code = write && name === 'RequestError' ? 'HADB_LEASE_AMBIGUOUS' : 'HADB_LEASE_UNAVAILABLE';
  } else {
    // Anything unexpected leaves a write's outcome open.
    code = write ? 'HADB_LEASE_AMBIGUOUS' : 'HADB_LEASE_UNAVAILABLE';
  }
  return new LeaseError(code, `nats ${op} failed: ${name ? `${name}: ` : ''}${message}`, { cause: error });
}
