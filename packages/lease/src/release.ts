import type { CasResult, OpOptions } from '@hadb/storage';
import { encodeLeaseData, releasedLeaseData, type LeaseData } from './lease-data.js';
import type { LeaseStore } from './store.js';

/**
 * Gives a held lease up by writing the released record ({@link releasedLeaseData}) with
 * `writeIfMatch` on the holder's etag. Conditional on purpose: if the lease was lost meanwhile
 * (`{ success: false }`), the successor's record is left alone, which an unconditional delete
 * would not do (and S3-compatible servers such as Ceph RGW ignore `If-Match` on DELETE). The
 * epoch is kept, so the next holder's `epoch + 1` still exceeds every earlier one.
 *
 * @param held the record this holder last wrote and the etag that write returned
 */
export function releaseLease(
  store: LeaseStore,
  key: string,
  held: { readonly lease: LeaseData; readonly etag: string },
  options?: OpOptions,
): Promise<CasResult> {
  return store.writeIfMatch(key, encodeLeaseData(releasedLeaseData(held.lease)), held.etag, options);
}
