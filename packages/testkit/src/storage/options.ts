import type { StorageBackend, StorageCapabilities } from '@hadb/storage';

/**
 * Groups of tests in {@link storageBackendSuite}; name one in
 * {@link StorageBackendSuiteOptions.skip} to skip it with a reason.
 *
 * - `crud`: get/head/exists/put/delete, etags, empty objects, buffer copying, odd keys.
 * - `list`: UTF-8 byte order, prefixes, `after`, pagination over `listKeys` keys.
 * - `cas`: putIfAbsent/putIfMatch outcomes, one caller at a time.
 * - `cas-race`: `concurrency` racing writers for `rounds` rounds (needs `atomicConditionalWrites`).
 * - `range`: rangeGet and ranged getStream edges.
 * - `batch`: putMany, deleteMany counts and partial failures.
 * - `stream`: putStream/getStream, failing and aborted uploads, `ifAbsent`.
 * - `stream-big`: the `bigObjectBytes` streamed round trip with bounded memory.
 * - `key-safety`: every method rejects unsafe keys before any I/O.
 * - `abort`: every method honours an already-aborted signal.
 * - `lifecycle`: close(), `await using`, use after close.
 */
export type StorageSuiteGroup =
  | 'crud'
  | 'list'
  | 'cas'
  | 'cas-race'
  | 'range'
  | 'batch'
  | 'stream'
  | 'stream-big'
  | 'key-safety'
  | 'abort'
  | 'lifecycle';

/** Options of {@link storageBackendSuite}. Only `name`, `create` and `capabilities` are required. */
export interface StorageBackendSuiteOptions {
  /** Shown in the `describe` title, e.g. `"mem"`, `"local"`, `"s3 (ceph rgw)"`. */
  readonly name: string;
  /**
   * Returns a fresh, open backend over its own empty namespace (a new instance, temporary
   * directory or random key prefix). Called at least once per test; some tests call it twice
   * for two independent backends. Every backend it returns is closed after the test.
   */
  readonly create: () => StorageBackend | Promise<StorageBackend>;
  /**
   * Called after each test for every backend `create` returned, after it was closed: remove the
   * temporary directory or key prefix here. Optional.
   */
  readonly destroy?: ((backend: StorageBackend) => void | Promise<void>) | undefined;
  /**
   * What the backend guarantees. The suite checks that `backend.capabilities` equals this, and
   * uses it to decide which tests apply: without `atomicConditionalWrites` the race tests are
   * skipped; without `conditionalStreamingWrites` `putStream({ ifAbsent: true })` must reject with
   * `HADB_STORAGE_UNSUPPORTED`; without `uniqueEtags` rewriting identical bytes may keep the etag.
   */
  readonly capabilities: StorageCapabilities;
  /** Groups to skip, each with the reason printed in the test title. */
  readonly skip?: Partial<Record<StorageSuiteGroup, string>> | undefined;
  /** Size of the streamed round trip in `stream-big`. Default 256 MiB; `0` skips the test. */
  readonly bigObjectBytes?: number | undefined;
  /**
   * Largest growth of retained memory (max of RSS growth and `arrayBuffers` growth, sampled with
   * periodic forced garbage collection) allowed while `stream-big` writes and reads the object.
   * Default 64 MiB. `null` disables the check, for backends that keep objects in memory.
   */
  readonly streamMemoryBudgetBytes?: number | null | undefined;
  /** Rounds of each race in `cas-race`. Default 50. */
  readonly rounds?: number | undefined;
  /** Concurrent writers per race round. Default 20. */
  readonly concurrency?: number | undefined;
  /** Keys written for the pagination test in `list`. Default 1,500 (more than one 1,000-key page). */
  readonly listKeys?: number | undefined;
  /** Multiplies every per-test timeout, for slow remote backends. Default 1. */
  readonly timeoutScale?: number | undefined;
  /**
   * Prepares a key whose deletion will fail with a real error (not "missing"), and returns it;
   * used to check that `deleteMany` raises `HADB_STORAGE_PARTIAL_FAILURE` naming exactly that key.
   * Omit it when the backend cannot produce such a failure; the test is then skipped.
   */
  readonly deleteFailureKey?: ((backend: StorageBackend) => Promise<string>) | undefined;
}

/** Options with defaults applied. */
export interface ResolvedSuiteOptions extends StorageBackendSuiteOptions {
  readonly bigObjectBytes: number;
  readonly streamMemoryBudgetBytes: number | null;
  readonly rounds: number;
  readonly concurrency: number;
  readonly listKeys: number;
  readonly timeoutScale: number;
}

export function resolveSuiteOptions(options: StorageBackendSuiteOptions): ResolvedSuiteOptions {
  return {
    ...options,
    bigObjectBytes: options.bigObjectBytes ?? 256 * 1024 * 1024,
    streamMemoryBudgetBytes:
      options.streamMemoryBudgetBytes === undefined ? 64 * 1024 * 1024 : options.streamMemoryBudgetBytes,
    rounds: options.rounds ?? 50,
    concurrency: options.concurrency ?? 20,
    listKeys: options.listKeys ?? 1500,
    timeoutScale: options.timeoutScale ?? 1,
  };
}
