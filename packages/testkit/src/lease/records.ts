import { decodeLeaseData, encodeLeaseData, newLeaseNonce, type LeaseData } from '@hadb/lease';

const decoder = new TextDecoder();
let counter = 0;

/** A scope (database name) no other test of this process uses. */
export function uniqueScope(label: string): string {
  counter += 1;
  const random = Math.random().toString(36).slice(2, 8);
  return `t-${label}-${process.pid}-${counter}-${random}`;
}

/** A fresh lease record of `instanceId`, encoded with the Rust-compatible codec. */
export function leaseBytes(instanceId: string, extra: Partial<LeaseData> = {}): Uint8Array {
  return encodeLeaseData({
    instanceId,
    address: `http://${instanceId}:8080`,
    claimedAt: Math.floor(Date.now() / 1000),
    ttlSecs: 5,
    sessionId: newLeaseNonce(),
    sleeping: false,
    nonce: newLeaseNonce(),
    ...extra,
  });
}

/** Text of stored bytes. */
export function text(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/**
 * Whether `stored` is the record `written`: byte-identical, or, for stores that re-stamp the
 * nonce, identical except for a fresh `nonce` (every other field and the field order kept).
 */
export function isSameRecord(stored: Uint8Array, written: Uint8Array, stampsNonce: boolean): boolean {
  if (!stampsNonce) return Buffer.from(stored).equals(Buffer.from(written));
  const a = JSON.parse(text(stored)) as Record<string, unknown>;
  const b = JSON.parse(text(written)) as Record<string, unknown>;
  if (typeof a.nonce !== 'string' || a.nonce.length < 16 || a.nonce === b.nonce) return false;
  const keys = Object.keys(a).filter((k) => k !== 'nonce');
  const writtenKeys = Object.keys(b).filter((k) => k !== 'nonce');
  if (JSON.stringify(keys) !== JSON.stringify(writtenKeys)) return false;
  return keys.every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));
}

/** The expected stored text of `written` on a nonce-stamping store, given the stored nonce. */
export function withNonce(written: string, nonce: string): string {
  const record = JSON.parse(written) as Record<string, unknown>;
  record.nonce = nonce;
  return JSON.stringify(record);
}

/** Decodes stored bytes as a lease record. */
export function lease(bytes: Uint8Array): LeaseData {
  return decodeLeaseData(bytes);
}
