import { LeaseError } from './errors.js';

/**
 * A lease record, byte-compatible with Rust `hadb_lease::LeaseData` (serde_json, struct order).
 *
 * Two fields are additions that Rust readers ignore (serde skips unknown fields):
 * - `epoch`: the fencing token. Every new term (a claim that is not a renewal by the same holder)
 *   writes `previous epoch + 1`; renewals keep it. Because each claim is a compare-and-swap on
 *   the previous record, epochs are strictly increasing across takeovers. A record written by
 *   Rust has no epoch and reads as `undefined` (treated as 0).
 * - `released`: the holder gave the lease up (see {@link releasedLeaseData}). Such a record has
 *   `claimed_at: 0` and `ttl_secs: 0`, so Rust readers see it as expired and may take it over.
 * - `nonce`: a random token written fresh on every write, so two writes never produce identical
 *   bytes (object stores derive ETags from content; identical bodies would give identical ETags,
 *   and a stale etag would match again: ABA). Use {@link newLeaseNonce}. `StorageLeaseStore`
 *   re-stamps it on every write, so object-store leases never depend on the caller for this.
 *
 * They are serialised after the Rust fields (epoch, released, nonce) and only when set, so a Rust
 * record re-serialises byte-identically.
 */
export interface LeaseData {
  readonly instanceId: string;
  /** How to reach the holder (for write forwarding). Rust default `""`. */
  readonly address: string;
  /** Unix seconds of the holder's wall clock at the last claim or renewal. */
  readonly claimedAt: number;
  readonly ttlSecs: number;
  /** Fresh per claim (not per renewal). Rust default `""`. */
  readonly sessionId: string;
  /** The cluster is parked; followers must not promote. Rust default `false`. */
  readonly sleeping: boolean;
  /** Fencing token (see above). */
  readonly epoch?: number | undefined;
  /** The holder released the lease; it is free to claim (see above). */
  readonly released?: boolean | undefined;
  /** Per-write uniqueness token (see above). */
  readonly nonce?: string | undefined;
}

/**
 * Bounds every lease record must keep; a record outside them is `HADB_LEASE_CORRUPT`, on write
 * and on read, so a damaged or hostile record can neither block takeover for ages (a huge TTL)
 * nor exhaust the fencing-token space or memory.
 *
 * - `maxRecordBytes`: 64 KiB. Real records are about 200 bytes; `StorageLeaseStore.read` stops
 *   reading past this.
 * - `maxTtlSecs`: 86,400 (one day); hadb leases live for seconds.
 * - `maxEpoch`: 2^40 − 1, the one epoch cap of hadb (this constant is its only definition).
 *   Engines carry the epoch in 40 bits (duckblock's epoch markers), so no record may hold more;
 *   at one takeover per millisecond 2^40 lasts 34 years.
 * - `epochHeadroom`: 2^20. `@hadb/core` acts only on records whose epoch is at most
 *   `maxEpoch − epochHeadroom` (others count as a stranger's and are not remembered), so a damaged
 *   or hostile record near the cap cannot leave its successors without epochs: a million terms
 *   stay available above any record core accepts.
 * - `maxTextChars`: 1,024 UTF-16 units for `instance_id`, `address`, `session_id` and `nonce`.
 */
export const LEASE_LIMITS = Object.freeze({
  maxRecordBytes: 64 * 1024,
  maxTtlSecs: 86_400,
  maxEpoch: 2 ** 40 - 1,
  epochHeadroom: 2 ** 20,
  maxTextChars: 1024,
});

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function u64(value: number, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new LeaseError('HADB_LEASE_CORRUPT', `lease field ${field} must be a non-negative safe integer`);
  }
  if (value > max) throw new LeaseError('HADB_LEASE_CORRUPT', `lease field ${field} exceeds ${max}`);
  return value;
}

function text(value: string, field: string): string {
  if (value.length > LEASE_LIMITS.maxTextChars) {
    throw new LeaseError(
      'HADB_LEASE_CORRUPT',
      `lease field ${field} is longer than ${LEASE_LIMITS.maxTextChars} characters`,
    );
  }
  return value;
}

const MAX: Readonly<Record<string, number>> = { ttl_secs: LEASE_LIMITS.maxTtlSecs, epoch: LEASE_LIMITS.maxEpoch };

/**
 * Serialises a record exactly as serde_json would (compact, Rust field order, then `epoch`,
 * `released` (only when true) and `nonce`).
 */
export function encodeLeaseData(lease: LeaseData): Uint8Array {
  const json: Record<string, unknown> = {
    instance_id: text(lease.instanceId, 'instance_id'),
    address: text(lease.address, 'address'),
    claimed_at: u64(lease.claimedAt, 'claimed_at'),
    ttl_secs: u64(lease.ttlSecs, 'ttl_secs', LEASE_LIMITS.maxTtlSecs),
    session_id: text(lease.sessionId, 'session_id'),
    sleeping: lease.sleeping,
  };
  if (lease.epoch !== undefined) json.epoch = u64(lease.epoch, 'epoch', LEASE_LIMITS.maxEpoch);
  if (lease.released === true) json.released = true;
  if (lease.nonce !== undefined) json.nonce = text(lease.nonce, 'nonce');
  const bytes = encoder.encode(JSON.stringify(json));
  if (bytes.length > LEASE_LIMITS.maxRecordBytes) {
    throw new LeaseError('HADB_LEASE_CORRUPT', `lease record exceeds ${LEASE_LIMITS.maxRecordBytes} bytes`);
  }
  return bytes;
}

function field<T>(obj: Record<string, unknown>, name: string, type: 'string' | 'number' | 'boolean', fallback?: T): T {
  const value = obj[name];
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== type) {
    throw new LeaseError('HADB_LEASE_CORRUPT', `lease field ${name} must be a ${type}`);
  }
  if (type === 'number') u64(value as number, name, MAX[name]);
  if (type === 'string') text(value as string, name);
  return value as T;
}

/**
 * Parses a record written by Rust or TypeScript. Missing `address`, `session_id` and `sleeping`
 * take the Rust defaults; unknown fields are ignored. Throws `HADB_LEASE_CORRUPT` for anything
 * that is not a record within {@link LEASE_LIMITS} (checked before parsing for the size).
 */
export function decodeLeaseData(bytes: Uint8Array): LeaseData {
  if (bytes.length > LEASE_LIMITS.maxRecordBytes) {
    throw new LeaseError('HADB_LEASE_CORRUPT', `lease record exceeds ${LEASE_LIMITS.maxRecordBytes} bytes`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch (cause) {
    throw new LeaseError('HADB_LEASE_CORRUPT', 'lease record is not valid UTF-8 JSON', { cause });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new LeaseError('HADB_LEASE_CORRUPT', 'lease record must be a JSON object');
  }
  const obj = parsed as Record<string, unknown>;
  const epoch = obj.epoch === undefined || obj.epoch === null ? undefined : field<number>(obj, 'epoch', 'number');
  const nonce = obj.nonce === undefined || obj.nonce === null ? undefined : field<string>(obj, 'nonce', 'string');
  const released =
    obj.released === undefined || obj.released === null ? false : field<boolean>(obj, 'released', 'boolean');
  return {
    instanceId: field<string>(obj, 'instance_id', 'string'),
    address: field<string>(obj, 'address', 'string', ''),
    claimedAt: field<number>(obj, 'claimed_at', 'number'),
    ttlSecs: field<number>(obj, 'ttl_secs', 'number'),
    sessionId: field<string>(obj, 'session_id', 'string', ''),
    sleeping: field<boolean>(obj, 'sleeping', 'boolean', false),
    ...(epoch === undefined ? {} : { epoch }),
    ...(released ? { released } : {}),
    ...(nonce === undefined ? {} : { nonce }),
  };
}

/**
 * Rust's `is_expired`: `nowSecs >= claimedAt + ttlSecs`, on the reader's wall clock. This compares
 * clocks of different machines; the coordinator uses it only as a hint and decides takeovers on
 * its own monotonic clock. A released record is always expired.
 */
export function isLeaseExpired(lease: LeaseData, nowSecs: number = Math.floor(Date.now() / 1000)): boolean {
  return lease.released === true || nowSecs >= lease.claimedAt + lease.ttlSecs;
}

/** A fresh random value for {@link LeaseData.nonce} (a v4 UUID: 122 random bits). */
export function newLeaseNonce(): string {
  return globalThis.crypto.randomUUID();
}

/**
 * The record a holder writes (with `writeIfMatch` on its own etag) to give the lease up:
 * `released: true`, `claimed_at: 0`, `ttl_secs: 0` (Rust readers see it expired), not sleeping,
 * the holder's `instance_id`, `session_id` and `epoch` kept (the next holder writes `epoch + 1`),
 * and a fresh nonce. See `releaseLease`.
 */
export function releasedLeaseData(lease: LeaseData): LeaseData {
  return {
    ...lease,
    claimedAt: 0,
    ttlSecs: 0,
    sleeping: false,
    released: true,
    nonce: newLeaseNonce(),
  };
}

/** True when the record was written by {@link releasedLeaseData}: the lease is free to claim. */
export function isLeaseReleased(lease: LeaseData): boolean {
  return lease.released === true;
}
