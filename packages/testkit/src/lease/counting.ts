import type { LeaseStore } from '@hadb/lease';

/** Lease-store requests counted by {@link countLeaseRequests}, as an S3 lease store bills them. */
export interface LeaseRequestCount {
  /** `read` calls (one GET each on S3). */
  readonly reads: number;
  /** `writeIfNotExists` / `writeIfMatch` calls (one conditional PUT each on S3). */
  readonly writes: number;
  /** `delete` calls (free on S3). */
  readonly deletes: number;
}

/** A lease store that counts the requests its callers make. */
export interface CountingLeaseStore<L extends LeaseStore = LeaseStore> {
  readonly store: L;
  count(): LeaseRequestCount;
  reset(): void;
}

/**
 * Wraps `store` so each of its requests is counted (with the S3 lease store one call is one
 * request): the lease side of cost benchmarks. The wrapped store behaves exactly like `store`.
 */
export function countLeaseRequests<L extends LeaseStore>(store: L): CountingLeaseStore<L> {
  let reads = 0;
  let writes = 0;
  let deletes = 0;
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const fn = value as (...a: unknown[]) => unknown;
      return (...args: unknown[]) => {
        if (prop === 'read') reads++;
        else if (prop === 'writeIfNotExists' || prop === 'writeIfMatch') writes++;
        else if (prop === 'delete') deletes++;
        return fn.apply(target, args);
      };
    },
  });
  return {
    store: proxy,
    count: () => ({ reads, writes, deletes }),
    reset() {
      reads = 0;
      writes = 0;
      deletes = 0;
    },
  };
}
