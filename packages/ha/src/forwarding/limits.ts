import type { ConfigChecker } from '@hadb/io';

/**
 * Limits of the leader's forwarding server (what one token holder can make the leader spend).
 * Engine limits — statements per request, rows per answer, statement time — are the engine's
 * options (`limits` of `@hadb/haduck`).
 */
export interface ForwardingLimits {
  /** Largest request body accepted, bytes; larger is answered 413 and the connection closed. Default 16 MiB. */
  readonly maxBodyBytes?: number | undefined;
  /** Largest answer sent, bytes; a larger result is refused (`HADB_HA_PROTOCOL`, 400). Default 64 MiB. */
  readonly maxResponseBytes?: number | undefined;
  /** Requests run at once; more are answered 503 `HADB_HA_OVERLOADED` (retryable). Default 32. */
  readonly maxConcurrentRequests?: number | undefined;
  /** Open connections; more are refused by the server. Default 256. */
  readonly maxConnections?: number | undefined;
  /** Time to receive a request's headers, ms. Default 10000. */
  readonly headersTimeoutMs?: number | undefined;
  /** Time to receive a whole request (headers and body), ms; at least `headersTimeoutMs`. Default 30000. */
  readonly requestTimeoutMs?: number | undefined;
}

/** Defaults of {@link ForwardingLimits}. */
export const DEFAULT_FORWARDING_LIMITS: Readonly<Required<ForwardingLimits>> = Object.freeze({
  maxBodyBytes: 16 * 1024 * 1024,
  maxResponseBytes: 64 * 1024 * 1024,
  maxConcurrentRequests: 32,
  maxConnections: 256,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
});

/**
 * Applies the defaults and checks every limit (a positive integer, `requestTimeoutMs` not below
 * `headersTimeoutMs`); throws the checker's `*_INVALID_CONFIG` naming `forwarding.<limit>`.
 */
export function resolveForwardingLimits(
  check: ConfigChecker,
  limits: ForwardingLimits | undefined,
): Required<ForwardingLimits> {
  check.require(
    limits === undefined || (typeof limits === 'object' && limits !== null),
    'forwarding must be an object of limits',
  );
  const l = limits ?? {};
  const out = {} as Record<keyof ForwardingLimits, number>;
  for (const name of Object.keys(DEFAULT_FORWARDING_LIMITS) as (keyof ForwardingLimits)[]) {
    out[name] = check.int(`forwarding.${name}`, l[name], { min: 1, default: DEFAULT_FORWARDING_LIMITS[name] });
  }
  check.require(
    out.requestTimeoutMs >= out.headersTimeoutMs,
    'forwarding.requestTimeoutMs must be at least forwarding.headersTimeoutMs',
  );
  return out;
}
