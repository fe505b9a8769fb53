import { readFile } from 'node:fs/promises';
import { DuckblockError } from './errors.js';
import { writeFileAtomic } from './fsutil.js';
import { positionPath } from './local-files.js';
import { manifestFromJson, manifestToJson, type BlockManifest, type ManifestJson } from './manifest.js';

/**
 * Where a local database file stands in its replication chain. Persisted beside the file as
 * `<db>.hadb-position` (JSON, replaced atomically) by leaders after every shipped segment and by
 * followers after every applied one.
 */
export interface Position {
  /** Sequence number of the last shipped/applied segment (0 = nothing yet). */
  readonly seq: bigint;
  /** Chain checksum after `seq`: the `prev_checksum` the next incremental must carry. */
  readonly checksum: bigint;
  /** Highest writer epoch accepted so far; segments from lower epochs are refused. */
  readonly epoch: bigint;
  /** Block manifest of the file at `seq` (used by a promoted follower to diff its first push). */
  readonly manifest: BlockManifest;
  /**
   * The `created_ms` of the segment or snapshot at `seq` (wall ms on the leader when it captured
   * the checkpoint, so at or just after the commit of the newest change it holds): the commit time
   * a follower's lag is measured from. `undefined` when unknown (0 in the header, a position
   * written before it was recorded, a leader's own position).
   */
  readonly createdMs?: number | undefined;
}

interface PositionJson {
  readonly version: 1;
  readonly seq: string;
  readonly checksum: string;
  readonly epoch: string;
  readonly manifest: ManifestJson;
  readonly createdMs?: number;
}

export { positionPath } from './local-files.js';

/** Serialises a position. */
export function encodePosition(p: Position): string {
  const json: PositionJson = {
    version: 1,
    seq: p.seq.toString(),
    checksum: p.checksum.toString(16).padStart(16, '0'),
    epoch: p.epoch.toString(),
    manifest: manifestToJson(p.manifest),
    ...(p.createdMs === undefined ? {} : { createdMs: p.createdMs }),
  };
  return JSON.stringify(json);
}

/** Parses {@link encodePosition}; throws `HADB_DUCKBLOCK_BAD_STATE` when malformed. */
export function decodePosition(text: string): Position {
  try {
    const j = JSON.parse(text) as PositionJson;
    if (j.version !== 1 || !/^[0-9a-f]{16}$/.test(j.checksum)) throw new Error('bad fields');
    return {
      seq: BigInt(j.seq),
      checksum: BigInt(`0x${j.checksum}`),
      epoch: BigInt(j.epoch),
      manifest: manifestFromJson(j.manifest),
      ...(typeof j.createdMs === 'number' && Number.isSafeInteger(j.createdMs) && j.createdMs > 0
        ? { createdMs: j.createdMs }
        : {}),
    };
  } catch (cause) {
    throw new DuckblockError('HADB_DUCKBLOCK_BAD_STATE', 'unreadable position file', { cause });
  }
}

/** Reads the position beside `dbPath`, or `null` when there is none. */
export async function readPosition(dbPath: string): Promise<Position | null> {
  let text: string;
  try {
    text = await readFile(positionPath(dbPath), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return decodePosition(text);
}

/** Persists the position beside `dbPath` atomically and durably. */
export async function writePosition(dbPath: string, p: Position): Promise<void> {
  await writeFileAtomic(positionPath(dbPath), encodePosition(p));
}
