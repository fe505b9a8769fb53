import { isHadbError } from '@hadb/io';
import { LeaseError, type LeaseErrorCode, isLeaseError } from '@hadb/lease';
import { isBrokenCircuitError } from 'cockatiel';
import {
  ClientClosedError,
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCUnauthenticatedError,
  GRPCUnavailableError,
} from 'etcd3';

/** gRPC's wording when no connection could be established: the request was never sent. */
const NOT_CONNECTED = /No connection established|ECONNREFUSED|EHOSTUNREACH|ENOTFOUND|Failed to connect/i;

/**
 * Maps an etcd3 client error to a {@link LeaseError}. A write that may have reached the server
 * (deadline exceeded, stream reset, unknown failure) is `HADB_LEASE_AMBIGUOUS`; one that was never
 * sent (no connection, open circuit, closed client) and every other failed read or delete is
 * `HADB_LEASE_UNAVAILABLE`; a read or delete past its deadline is `HADB_LEASE_TIMEOUT`; refused credentials are `HADB_LEASE_AUTH`.
 */
export function toLeaseError(error: unknown, op: string, write: boolean): Error {
  if (write && isLeaseError(error, 'HADB_LEASE_TIMEOUT')) {
    // The deadline passed after the write may have been sent: its outcome is unknown.
    return new LeaseError('HADB_LEASE_AMBIGUOUS', `etcd ${op}: outcome unknown (${error.message})`, { cause: error });
  }
  // Hadb errors (a LeaseError, or the hadb error a caller aborted with) pass through unchanged.
  if (isHadbError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  let code: LeaseErrorCode;
  if (
    error instanceof EtcdPermissionDeniedError ||
    error instanceof EtcdAuthenticationFailedError ||
    error instanceof EtcdInvalidAuthTokenError ||
    error instanceof GRPCUnauthenticatedError
  ) {
    code = 'HADB_LEASE_AUTH';
  } else if (!write) {
    code = error instanceof GRPCDeadlineExceededError ? 'HADB_LEASE_TIMEOUT' : 'HADB_LEASE_UNAVAILABLE';
  } else if (
    isBrokenCircuitError(error) ||
    error instanceof ClientClosedError ||
    (error instanceof GRPCUnavailableError && NOT_CONNECTED.test(message))
  ) {
    code = 'HADB_LEASE_UNAVAILABLE';
  } else if (error instanceof GRPCDeadlineExceededError) {
    // The gRPC deadline (the same length as the call's) fired first: the same timeout, so the
    // same error as when the call's own deadline wins the race.
    const timeout = new LeaseError('HADB_LEASE_TIMEOUT', `etcd ${op}: deadline exceeded`, { cause: error });
    return new LeaseError('HADB_LEASE_AMBIGUOUS', `etcd ${op}: outcome unknown (${timeout.message})`, {
      cause: timeout,
    });
  } else {
    code = 'HADB_LEASE_AMBIGUOUS';
  }
  return new LeaseError(code, `etcd ${op} failed: ${message}`, { cause: error });
}
