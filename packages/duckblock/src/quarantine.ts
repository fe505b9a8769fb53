import { describeError, wallSeconds } from '@hadb/io';
import { keyUnder } from '@hadb/storage';
import { DuckblockError } from './errors.js';
import type { ResolvedOptions } from './options.js';

/** `{prefix}{db}/_quarantine/`: where objects that failed verification are moved aside. */
export function quarantinePrefix(prefix: string, db: string): string {
  return keyUnder(prefix, `${db}/_quarantine/x`).slice(0, -1);
}

/**
 * Moves the object at `key` — one that does not verify as a segment, so no term wrote it — to
 * `{prefix}{db}/_quarantine/{seq:016x}-{unix seconds}.hadbp` (copy, then delete) and reports it
 * loudly: a `HADB_DUCKBLOCK_CORRUPT` error logged at error level with `event: 'corruption'`.
 * Resolves with the quarantine key, or `null` when the object vanished meanwhile. Only ever
 * called for objects that fail verification: a valid segment of any term is never moved.
 */
export async function quarantineObject(
  options: ResolvedOptions,
  db: string,
  key: string,
  seq: bigint,
  signal: AbortSignal,
): Promise<string | null> {
  const object = await options.storage.get(key, { signal });
  if (object === null) return null;
  const target = `${quarantinePrefix(options.prefix, db)}${seq.toString(16).padStart(16, '0')}-${wallSeconds(options.clock)}.hadbp`;
  await options.storage.put(target, object.data, { signal });
  await options.storage.delete(key, { signal });
  const err = new DuckblockError(
    'HADB_DUCKBLOCK_CORRUPT',
    `${db}: the object at seq ${seq} (${key}) is not a valid segment; moved to ${target}`,
  );
  options.logger.error(
    { event: 'corruption', db, seq: seq.toString(), key, quarantine: target, err: describeError(err) },
    'corruption: an object that no term wrote held the next sequence; moved aside',
  );
  return target;
}
