/** What storage holds for one database: snapshot and incremental keys, and the head. */
import {
  ChangesetKind,
  GENERATION_INCREMENTAL,
  GENERATION_SNAPSHOT,
  formatKey,
  generationPrefix,
  parseKey,
} from '@hadb/changeset';
import type { OpOptions, StorageBackend } from '@hadb/storage';

/** One stored changeset. */
export interface RemoteEntry {
  readonly key: string;
  readonly seq: bigint;
}

/** Listing of one database. */
export interface RemoteListing {
  /** Snapshots, ascending seq. */
  readonly snapshots: readonly RemoteEntry[];
  /** Incrementals, ascending seq. */
  readonly incrementals: readonly RemoteEntry[];
  /** Highest seq of either kind (0 when empty). */
  readonly headSeq: bigint;
}

async function listGeneration(
  storage: StorageBackend,
  prefix: string,
  db: string,
  generation: bigint,
  options: OpOptions,
): Promise<RemoteEntry[]> {
  const dir = generationPrefix(prefix, db, generation);
  const keys = await storage.list(dir, { signal: options.signal });
  const out: RemoteEntry[] = [];
  for (const key of keys) {
    const parts = parseKey(prefix, key);
    if (parts === null || parts.db !== db || parts.generation !== generation || parts.kind !== ChangesetKind.Physical)
      continue;
    out.push({ key, seq: parts.seq });
  }
  return out.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
}

/** Lists snapshots and incrementals of `db`. */
export async function listRemote(
  storage: StorageBackend,
  prefix: string,
  db: string,
  options: OpOptions = {},
): Promise<RemoteListing> {
  const [snapshots, incrementals] = await Promise.all([
    listGeneration(storage, prefix, db, GENERATION_SNAPSHOT, options),
    listGeneration(storage, prefix, db, GENERATION_INCREMENTAL, options),
  ]);
  const last = (list: RemoteEntry[]): bigint => list[list.length - 1]?.seq ?? 0n;
  const a = last(snapshots);
  const b = last(incrementals);
  return { snapshots, incrementals, headSeq: a > b ? a : b };
}

/** Lists the snapshots of `db` (ascending seq): one LIST request. */
export function listSnapshots(
  storage: StorageBackend,
  prefix: string,
  db: string,
  options: OpOptions = {},
): Promise<RemoteEntry[]> {
  return listGeneration(storage, prefix, db, GENERATION_SNAPSHOT, options);
}

/** Key of the snapshot at `seq`. */
export function snapshotKey(prefix: string, db: string, seq: bigint): string {
  return formatKey(prefix, db, GENERATION_SNAPSHOT, seq, ChangesetKind.Physical);
}

/** Key of the incremental at `seq`. */
export function incrementalKey(prefix: string, db: string, seq: bigint): string {
  return formatKey(prefix, db, GENERATION_INCREMENTAL, seq, ChangesetKind.Physical);
}

/** The fields of a stored changeset's 40-byte header that walstream reads without downloading it. */
export interface RemoteHeader {
  readonly pageSize: number;
  readonly seq: bigint;
  readonly prevChecksum: bigint;
  readonly createdMs: number;
}

/** Reads a stored changeset's header with one range read; `null` if the object is missing or short. */
export async function readRemoteHeader(
  storage: StorageBackend,
  key: string,
  options: OpOptions = {},
): Promise<RemoteHeader | null> {
  const bytes = await storage.rangeGet(key, 0, 40, options);
  if (bytes === null || bytes.byteLength < 40) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, 40);
  return {
    pageSize: view.getUint32(8, false),
    seq: view.getBigUint64(12, false),
    prevChecksum: view.getBigUint64(20, false),
    createdMs: Number(view.getBigInt64(32, false)),
  };
}

/**
 * The chain checksum at a stored changeset: for an incremental its trailer (the next
 * incremental's `prev_checksum`), for a snapshot its `prev_checksum` (the anchor the next
 * incremental continues). `null` if the object is missing.
 */
export async function remoteChainAt(
  storage: StorageBackend,
  key: string,
  snapshot: boolean,
  options: OpOptions = {},
): Promise<bigint | null> {
  if (snapshot) return (await readRemoteHeader(storage, key, options))?.prevChecksum ?? null;
  const info = await storage.head(key, options);
  if (info === null || info.size < 48) return null;
  const tail = await storage.rangeGet(key, info.size - 8, 8, options);
  if (tail === null || tail.byteLength < 8) return null;
  return new DataView(tail.buffer, tail.byteOffset, 8).getBigUint64(0, false);
}
