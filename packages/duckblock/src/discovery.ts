import {
  ChangesetKind,
  GENERATION_INCREMENTAL,
  GENERATION_SNAPSHOT,
  discoverAfter,
  discoverLatestSnapshot,
  discoverStrictPhysicalChain,
  formatKey,
  type DiscoveredChangeset,
  type StrictChainBase,
  type StrictChainHead,
} from '@hadb/changeset';
import type { OpOptions, StorageBackend } from '@hadb/storage';

/** Key of incremental segment `seq`: `{prefix}{db}/0000/{seq:016x}.hadbp`. */
export function incrementalKey(prefix: string, db: string, seq: bigint): string {
  return formatKey(prefix, db, GENERATION_INCREMENTAL, seq, ChangesetKind.Physical);
}

/** Key of the snapshot at `seq`: `{prefix}{db}/0001/{seq:016x}.hadbp`. */
export function snapshotKey(prefix: string, db: string, seq: bigint): string {
  return formatKey(prefix, db, GENERATION_SNAPSHOT, seq, ChangesetKind.Physical);
}

/**
 * Incremental segments with `seq > afterSeq`, ascending. The backend's `after` is only a hint:
 * the filter is re-applied, so stale keys from an advisory listing never leak through.
 */
export function discoverSegmentsAfter(
  storage: StorageBackend,
  prefix: string,
  db: string,
  afterSeq: bigint,
  options: OpOptions = {},
): Promise<DiscoveredChangeset[]> {
  return discoverAfter(storage, prefix, db, afterSeq, ChangesetKind.Physical, options);
}

/** The snapshot with the highest seq, or `null` when there is none. */
export function discoverLatestSnapshotSegment(
  storage: StorageBackend,
  prefix: string,
  db: string,
  options: OpOptions = {},
): Promise<DiscoveredChangeset | null> {
  return discoverLatestSnapshot(storage, prefix, db, ChangesetKind.Physical, options);
}

/** Every snapshot, ascending by seq. */
export async function listSnapshots(
  storage: StorageBackend,
  prefix: string,
  db: string,
  options: OpOptions = {},
): Promise<DiscoveredChangeset[]> {
  const dir = snapshotKey(prefix, db, 0n).replace(/[0-9a-f]{16}\.hadbp$/, '');
  const keys = await storage.list(dir, { signal: options.signal });
  const out: DiscoveredChangeset[] = [];
  for (const key of keys) {
    const m = /^([0-9a-f]{16})\.hadbp$/.exec(key.slice(dir.length));
    if (m !== null) out.push({ key, seq: BigInt(`0x${m[1]}`), kind: ChangesetKind.Physical });
  }
  return out.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
}

/**
 * Strict chain discovery after `base` (contiguous seqs, key/header agreement, every link
 * verified), delegating to `@hadb/changeset`. Downloads every segment; use it for audits and
 * promotion checks, not for the follower's polling (which verifies while it applies).
 */
export function discoverStrictChain(
  storage: StorageBackend,
  prefix: string,
  db: string,
  base: StrictChainBase,
  options: OpOptions = {},
): Promise<StrictChainHead> {
  return discoverStrictPhysicalChain(storage, prefix, db, base, options);
}
