import { formatKey, generationPrefix, parseKey } from '@hadb/changeset';
import { assertSafePrefix } from '@hadb/storage';
import { GraphstreamError } from './errors.js';

/** Generation of incremental journal segments (`0000`). */
export const GENERATION_INCREMENTAL = 0;

/** `{prefix}{db}/0000/`: the listing prefix of a database's journal segments. */
export function journalPrefix(prefix: string, db: string): string {
  return generationPrefix(prefix, db, GENERATION_INCREMENTAL);
}

/**
 * Storage key of the segment whose header `first_seq` is `firstSeq`:
 * `{prefix}{db}/0000/{first_seq:016x}.hadbj` (lowercase hex, via `@hadb/changeset`'s
 * `formatKey`). Never derived from a local (decimal) file name.
 */
export function segmentKey(prefix: string, db: string, firstSeq: bigint): string {
  return formatKey(prefix, db, GENERATION_INCREMENTAL, firstSeq, 'hadbj');
}

/** First sequence of a listed journal segment key of `db`, or `undefined` for anything else. */
export function parseSegmentKey(prefix: string, db: string, key: string): bigint | undefined {
  const parts = parseKey(prefix, key);
  if (parts === null || parts.db !== db || BigInt(parts.generation) !== 0n || parts.kind !== 'hadbj') return undefined;
  return parts.seq;
}

/** Validates a prefix the way every component does: empty or ending in `/`. */
export function checkPrefix(prefix: string): string {
  assertSafePrefix(prefix);
  if (prefix !== '' && !prefix.endsWith('/')) {
    throw new GraphstreamError('HADB_GRAPHSTREAM_INVALID_ARGUMENT', 'prefix must be empty or end with "/"');
  }
  return prefix;
}
