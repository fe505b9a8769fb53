import { isHadbError, type Clock } from '@hadb/io';
import type { AdminEvent, AdminEventType } from './source.js';

/** The events {@link alertOf} derives from a failure. */
export type FailureAlert = Extract<AdminEventType, 'corruption_detected' | 'circuit_breaker_open' | 'auth_failure'>;

/** Code reasons meaning stored bytes failed verification (a checksum, a chain link, a format check). */
const CORRUPTION =
  /_(CORRUPT|CORRUPT_SEGMENT|CHAIN_BROKEN|CHECKSUM_MISMATCH|SEQ_MISMATCH|INVALID_MAGIC|TRUNCATED|NOT_CANONICAL|PAGE_SIZE_MISMATCH|PAGE_ID_MISMATCH|INTEGRITY|KEY_MISMATCH|UNBOUND)$/;
/** Code reasons meaning a service refused our credentials. */
const AUTH = /^HADB_(STORAGE|LEASE)_AUTH$|_WRONG_KEY$/;

/**
 * The webhook event a failure stands for, looking through its `cause` chain (a storage error
 * wraps the breaker's refusal, a changeset I/O error wraps the checksum failure):
 * `circuit_breaker_open` for `*_CIRCUIT_OPEN`, `auth_failure` for `HADB_STORAGE_AUTH` /
 * `HADB_LEASE_AUTH` / a wrong decryption key, `corruption_detected` for a verification code
 * (`*_CORRUPT`, `*_CHECKSUM_MISMATCH`, `*_CHAIN_BROKEN`, …); `undefined` for anything else.
 */
export function alertOf(error: unknown): FailureAlert | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 8 && e !== undefined && e !== null; depth++) {
    if (isHadbError(e)) {
      if (e.code.endsWith('_CIRCUIT_OPEN')) return 'circuit_breaker_open';
      if (AUTH.test(e.code)) return 'auth_failure';
      if (CORRUPTION.test(e.code)) return 'corruption_detected';
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Lets at most one event of a kind (type and database) through per `windowMs`, so a failure that
 * repeats on every poll — a corrupt object, an open breaker, a client with a wrong token — pages
 * once a window, not once a request. The next event let through carries `suppressed` (how many
 * were held back since the last one) in its context.
 */
export class EventThrottle {
  readonly #clock: Clock;
  readonly #windowMs: number;
  readonly #last = new Map<string, { atMs: number; suppressed: number }>();

  constructor(clock: Clock, windowMs = 60_000) {
    this.#clock = clock;
    this.#windowMs = windowMs;
  }

  /** `event` (with `suppressed` added when some were held back), or `undefined` inside the window. */
  pass(event: AdminEvent): AdminEvent | undefined {
    const key = `${event.type}\u0000${event.db}`;
    const now = this.#clock.now();
    const last = this.#last.get(key);
    if (last !== undefined && now - last.atMs < this.#windowMs) {
      last.suppressed++;
      return undefined;
    }
    this.#last.set(key, { atMs: now, suppressed: 0 });
    if (last === undefined || last.suppressed === 0) return event;
    return { ...event, context: { ...event.context, suppressed: last.suppressed } };
  }
}
