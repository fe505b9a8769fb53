import { LeaseError, assertLeaseKey } from '@hadb/lease';

/** NATS KV key characters (nats.js `validateKey`), with no empty `.`-separated token. */
const NATS_KEY = /^[-/=_A-Za-z0-9]+(\.[-/=_A-Za-z0-9]+)*$/;
/** NATS KV bucket names. */
const NATS_BUCKET = /^[-_A-Za-z0-9]{1,64}$/;

/**
 * Checks a key against both the hadb key rules and NATS KV's: `[-/=_A-Za-z0-9.]`, no leading,
 * trailing or doubled `.`. Throws `HADB_LEASE_INVALID_KEY`.
 */
export function assertNatsKey(key: string): string {
  assertLeaseKey(key);
  if (!NATS_KEY.test(key)) throw new LeaseError('HADB_LEASE_INVALID_KEY', 'key rejected: not a valid NATS KV key');
  return key;
}

/** Checks a bucket name (`[-_A-Za-z0-9]{1,64}`). Throws `HADB_LEASE_INVALID_KEY`. */
export function assertNatsBucket(bucket: string): string {
  if (typeof bucket !== 'string' || !NATS_BUCKET.test(bucket)) {
    throw new LeaseError('HADB_LEASE_INVALID_KEY', 'bucket rejected: must match [-_A-Za-z0-9]{1,64}');
  }
  return bucket;
}

/** A revision etag as a JetStream sequence. Throws `HADB_LEASE_INVALID_ETAG`. */
export function parseRevision(etag: string): number {
  const revision = /^[1-9][0-9]{0,15}$/.test(etag) ? Number(etag) : Number.NaN;
  if (!Number.isSafeInteger(revision)) {
    throw new LeaseError('HADB_LEASE_INVALID_ETAG', 'etag must be a decimal KV revision');
  }
  return revision;
}
