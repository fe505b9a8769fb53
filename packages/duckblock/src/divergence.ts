import { HADBP_MIN_SIZE, HADBP_TRAILER_SIZE } from '@hadb/changeset';
import type { StorageBackend } from '@hadb/storage';
import { incrementalKey, snapshotKey } from './discovery.js';
import { DuckblockError } from './errors.js';
import type { Position } from './position.js';

const hex = (v: bigint): string => `0x${v.toString(16).padStart(16, '0')}`;

/** Offset of `prev_checksum` in a `.hadbp` header (big-endian u64). */
const PREV_CHECKSUM_OFFSET = 20;

/**
 * The chain checksum at the object's seq that the object at `key` records (unverified), or null
 * when there is no such object: an incremental's trailer (its own checksum), or a snapshot's
 * header `prev_checksum` (the chain checksum it was taken at).
 */
async function recordedChecksum(
  storage: StorageBackend,
  key: string,
  part: 'trailer' | 'anchor',
  signal: AbortSignal | undefined,
): Promise<bigint | null> {
  const info = await storage.head(key, { signal });
  if (info === null || info.size < HADBP_MIN_SIZE) return null;
  const start = part === 'trailer' ? info.size - HADBP_TRAILER_SIZE : PREV_CHECKSUM_OFFSET;
  const s = await storage.getStream(key, { start, length: 8, signal });
  if (s === null) return null;
  const parts: Uint8Array[] = [];
  for await (const c of s.body) parts.push(c);
  const bytes = Buffer.concat(parts);
  return bytes.length === 8 ? bytes.readBigUInt64BE(0) : null;
}

/**
 * The error for segment `next` not continuing a position the local file held before this pull
 * (not one reached through storage):
 * - `HADB_DUCKBLOCK_DIVERGED` when neither storage's segment nor its snapshot at the position's
 *   seq records the position's checksum (missing, or another one): the file holds a checkpoint
 *   that never became part of storage's chain (a leader killed while uploading it — its position
 *   is persisted beside the upload). Set the file aside and restore it from storage.
 * - `HADB_DUCKBLOCK_CHAIN_BROKEN` when storage holds the position itself: storage's chain is
 *   broken there, and nothing is applied past it.
 * The recorded checksum is read (8 bytes) without verifying its object: it only chooses between
 * halting and restoring, a restore verifies everything it applies, and a position reached through
 * storage always carries the checksum its object records — so a follower never restores in a loop.
 */
export async function brokenLinkError(
  storage: StorageBackend,
  prefix: string,
  db: string,
  position: Position,
  next: { readonly seq: bigint; readonly prev: bigint },
  signal: AbortSignal | undefined,
): Promise<DuckblockError> {
  const stored = await recordedChecksum(storage, incrementalKey(prefix, db, position.seq), 'trailer', signal);
  const anchored =
    stored === position.checksum
      ? stored
      : await recordedChecksum(storage, snapshotKey(prefix, db, position.seq), 'anchor', signal);
  if (stored !== position.checksum && anchored !== position.checksum) {
    return new DuckblockError(
      'HADB_DUCKBLOCK_DIVERGED',
      `${db}: the local position (seq ${position.seq}, checksum ${hex(position.checksum)}) was never shipped: ` +
        `storage's segment ${position.seq} ${stored === null ? 'is missing' : `ends with ${hex(stored)}`} and segment ${next.seq} continues ${hex(next.prev)}`,
    );
  }
  return new DuckblockError(
    'HADB_DUCKBLOCK_CHAIN_BROKEN',
    `${db}: segment ${next.seq} has prev_checksum ${hex(next.prev)}, position ${position.seq} has ${hex(position.checksum)}`,
  );
}
