import type { LeaseCapabilities, LeaseStore } from '@hadb/lease';

/** Options of {@link leaseStoreSuite}. */
export interface LeaseStoreSuiteOptions {
  /** Label of the suite, e.g. `"nats"`. */
  readonly name: string;
  /**
   * Returns a new, open store. Called once or more per test; the suite closes every store it
   * creates. Against a real server, point every store of one run at the same fresh namespace
   * (a unique bucket or prefix); the suite uses a unique scope per test.
   */
  readonly create: () => LeaseStore | Promise<LeaseStore>;
  /** The capabilities the store must report (compared with `toEqual`). */
  readonly capabilities: LeaseCapabilities;
  /**
   * The expected key layout: `[scope, key]` pairs that `keyFor` must reproduce exactly (the Rust
   * layouts: S3 `{prefix}{scope}/_lease.json`; NATS, etcd and mem: the scope).
   */
  readonly keyLayout: ReadonlyArray<readonly [scope: string, key: string]>;
  /**
   * Whether two stores from `create()` see the same records (one server, bucket and prefix).
   * Default `true`: races then run across several instances. Only in-memory stores whose
   * instances are independent set `false`; the suite checks that the answer is true of the store.
   */
  readonly sharedAcrossInstances?: boolean | undefined;
  /** Scopes `keyFor` must reject with `HADB_LEASE_INVALID_KEY`. Default: a standard list. */
  readonly invalidScopes?: readonly string[] | undefined;
  /** Keys every I/O method must reject with `HADB_LEASE_INVALID_KEY`. Default: a standard list. */
  readonly invalidKeys?: readonly string[] | undefined;
  /** Rounds of the race test (each: one create race and one update race). Default 200. */
  readonly raceRounds?: number | undefined;
  /** Concurrent writers per race. Default 20. */
  readonly raceWriters?: number | undefined;
  /** Accepted takeovers in the concurrent epoch test. Default 50. */
  readonly takeovers?: number | undefined;
  /**
   * Skips the whole suite, e.g. `!testService('nats').available` (the skip is loud; under
   * `CI=true` `testService` throws instead).
   */
  readonly skip?: boolean | undefined;
  /**
   * Runs once after the suite (Vitest `afterAll`): remove what it wrote on a real server (the
   * run's bucket, prefix or keys; a full run writes several hundred keys). Default: nothing.
   */
  readonly cleanup?: (() => void | Promise<void>) | undefined;
  /** Timeout of each test in ms. Default 60 000. */
  readonly timeoutMs?: number | undefined;
}
