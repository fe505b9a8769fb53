/**
 * Lease records written by the Rust crates (hadb-lease `LeaseData`, serde_json). The interop
 * fixture must round-trip byte-identically.
 */
export const RUST_LEASE_FIXTURES = {
  /** `hadb-lease` `lease_data_interop_fixture_from_cinchfs_go`: kept byte-identical. */
  interop:
    '{"instance_id":"iid-interop","address":"cinchfs://host","claimed_at":1700000000,"ttl_secs":30,"session_id":"sid-interop","sleeping":false}',
  /** The minimal legacy record (missing fields take Rust defaults). */
  legacy: '{"instance_id":"i","claimed_at":100,"ttl_secs":5}',
} as const;

/** Scopes every `keyFor` must reject: unsafe database names. */
export const DEFAULT_INVALID_SCOPES: readonly string[] = [
  '',
  '../etc',
  'a/b',
  '.hidden',
  '-dash',
  'a b',
  'a..b',
  'x'.repeat(129),
  'nul\u0000',
];

/** Keys every I/O method must reject: empty, escaping, absolute, control characters. */
export const DEFAULT_INVALID_KEYS: readonly string[] = ['', '../escape', '/absolute', 'a\u0000b', 'a\\b'];
