import { assertSafeDbName, assertSafeKey, assertSafePrefix, StorageError } from '@hadb/storage';
import { U64_MAX } from './types.js';

/** Generation 0: live incremental changesets. */
export const GENERATION_INCREMENTAL = 0n;
/** Generation 1: snapshots (a full database as pages). Discovery only scans this generation. */
export const GENERATION_SNAPSHOT = 1n;

/** File extension of a changeset format, as in the Rust `ChangesetKind` enum. */
export type ChangesetKind = 'hadbp' | 'hadbj';

/** Named kinds, as in Rust: `ChangesetKind.Physical === 'hadbp'`, `ChangesetKind.Journal === 'hadbj'`. */
export const ChangesetKind = {
  /** `.hadbp` physical page changesets. */
  Physical: 'hadbp',
  /** `.hadbj` journal segments. */
  Journal: 'hadbj',
} as const satisfies Record<string, ChangesetKind>;

/** The parts of a changeset key. */
export interface ChangesetKeyParts {
  readonly db: string;
  readonly generation: bigint;
  readonly seq: bigint;
  readonly kind: ChangesetKind;
}

function hex(value: bigint, width: number): string {
  return value.toString(16).padStart(width, '0');
}

function checkKind(kind: unknown): ChangesetKind {
  if (kind !== 'hadbp' && kind !== 'hadbj') {
    throw new StorageError('HADB_STORAGE_INVALID_KEY', 'changeset kind must be "hadbp" or "hadbj"');
  }
  return kind;
}

function checkU64(name: string, value: unknown): bigint {
  const v = typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : value;
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) {
    throw new StorageError('HADB_STORAGE_INVALID_KEY', `${name} must be an integer in [0, 2^64)`);
  }
  return v;
}

/**
 * The directory of one generation: `{prefix}{db}/{generation:04x}/`. `prefix` is used verbatim
 * (pass it with its trailing `/`). Throws `HADB_STORAGE_INVALID_KEY` for an unsafe prefix or
 * database name, or if the result would leave `prefix`.
 */
export function generationPrefix(prefix: string, db: string, generation: bigint | number): string {
  assertSafePrefix(prefix);
  assertSafeDbName(db);
  const gen = checkU64('generation', generation);
  const dir = `${prefix}${db}/${hex(gen, 4)}/`;
  assertSafeKey(dir.slice(0, -1));
  if (!dir.startsWith(prefix)) throw new StorageError('HADB_STORAGE_INVALID_KEY', 'key escapes its prefix');
  return dir;
}

/**
 * The object key of a changeset: `{prefix}{db}/{generation:04x}/{seq:016x}.{kind}`
 * (lowercase, zero-padded hex), identical to Rust's `format_key`. For example
 * `formatKey('wal/', 'mydb', 0n, 1n, 'hadbp') === 'wal/mydb/0000/0000000000000001.hadbp'`.
 * Validates `db` with `assertSafeDbName` and checks the key stays under `prefix`
 * (`HADB_STORAGE_INVALID_KEY` otherwise).
 */
export function formatKey(
  prefix: string,
  db: string,
  generation: bigint | number,
  seq: bigint,
  kind: ChangesetKind,
): string {
  const dir = generationPrefix(prefix, db, generation);
  const key = `${dir}${hex(checkU64('seq', seq), 16)}.${checkKind(kind)}`;
  return assertSafeKey(key);
}

/**
 * Parses a key produced by {@link formatKey} under `prefix`. Returns `null` for anything else
 * (another prefix, junk names, unsafe database names, non-canonical hex), so that
 * `formatKey(prefix, ...parts) === key` whenever the result is not `null`.
 */
export function parseKey(prefix: string, key: string): ChangesetKeyParts | null {
  if (typeof key !== 'string' || typeof prefix !== 'string' || !key.startsWith(prefix)) return null;
  const match = /^([^/]+)\/([0-9a-f]{4,16})\/([0-9a-f]{16})\.(hadbp|hadbj)$/.exec(key.slice(prefix.length));
  if (match === null) return null;
  const [, db, genHex, seqHex, kind] = match as unknown as [string, string, string, string, ChangesetKind];
  if (genHex.length > 4 && genHex.startsWith('0')) return null;
  const parts = { db, generation: BigInt(`0x${genHex}`), seq: BigInt(`0x${seqHex}`), kind };
  try {
    if (formatKey(prefix, db, parts.generation, parts.seq, kind) !== key) return null;
  } catch {
    return null;
  }
  return parts;
}

/**
 * The lenient file-name parse of Rust's discovery (`u64::from_str_radix(stem, 16)` after
 * stripping `.{ext}`): an optional `+`, then 1+ hex digits of either case whose value fits u64.
 * Returns `null` when the name does not parse.
 */
export function parseSeqStem(name: string, kind: ChangesetKind): bigint | null {
  const ext = `.${kind}`;
  if (!name.endsWith(ext)) return null;
  const stem = name.slice(0, name.length - ext.length);
  if (!/^\+?[0-9a-fA-F]+$/.test(stem)) return null;
  const value = BigInt(`0x${stem.startsWith('+') ? stem.slice(1) : stem}`);
  return value > U64_MAX ? null : value;
}
