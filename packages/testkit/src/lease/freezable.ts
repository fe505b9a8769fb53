import type { LeaseStore } from '@hadb/lease';

/** A lease store view that can be frozen (see {@link freezableLeaseStore}). */
export interface FreezableLeaseStore {
  /** Forwards to the wrapped store until {@link freeze}; `close()` leaves the wrapped store open. */
  readonly store: LeaseStore;
  /** From now on every request of the view hangs (never settles), like a frozen process. */
  freeze(): void;
}

/**
 * Wraps `store` for a node that will freeze: until `freeze()` every call is forwarded; after it,
 * `read`, `writeIfNotExists`, `writeIfMatch` and `delete` return promises that never settle, so
 * the node behaves like a paused process (its lease runs out while others keep going). Several
 * nodes can each take a view of one shared store.
 */
export function freezableLeaseStore(store: LeaseStore): FreezableLeaseStore {
  let frozen = false;
  const hang = <T>(): Promise<T> => new Promise<T>(() => {});
  const view: LeaseStore = {
    name: store.name,
    capabilities: store.capabilities,
    keyFor: (scope) => store.keyFor(scope),
    read: (key, o) => (frozen ? hang() : store.read(key, o)),
    writeIfNotExists: (key, data, o) => (frozen ? hang() : store.writeIfNotExists(key, data, o)),
    writeIfMatch: (key, data, etag, o) => (frozen ? hang() : store.writeIfMatch(key, data, etag, o)),
    delete: (key, o) => (frozen ? hang() : store.delete(key, o)),
    close: async () => {},
    [Symbol.asyncDispose]: async () => {},
  };
  return { store: view, freeze: () => (frozen = true) };
}
