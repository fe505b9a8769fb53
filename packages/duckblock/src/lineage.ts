/**
 * How a leader term starts its chain: a new lineage (claim + snapshot) or the continuation of the
 * existing chain after a promotion. Both claim the term's first sequence with an empty segment
 * carrying the term's epoch before they resolve, so no older term can append after it.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { HADBP_HEADER_SIZE, HADBP_MIN_SIZE, HADBP_TRAILER_SIZE } from '@hadb/changeset';
import type { LeaderTerm } from '@hadb/core';
import { discoverLatestSnapshotSegment, discoverSegmentsAfter, incrementalKey, snapshotKey } from './discovery.js';
import { DuckblockError, isDuckblockError, throwIfAborted } from './errors.js';
import { writeSegmentFenced } from './fenced-write.js';
import { leaderFileHandle } from './file-handles.js';
import { newLeaderState, persistLeaderPosition, type LeaderState } from './leader-state.js';
import { outgoingPath } from './local-files.js';
import type { ResolvedOptions } from './options.js';
import { readPosition, type Position } from './position.js';
import { pullIncremental } from './pull.js';
import { createdMsNow, encodeSegment, newSegment } from './segment.js';
import { uploadSnapshot } from './snapshot.js';

/** Attempts at claiming a sequence before giving up while late writes keep arriving. */
const CLAIM_ATTEMPTS = 6;
/** Attempts at reading the file for the lineage's snapshot while a checkpoint tears the read. */
const SNAPSHOT_READ_ATTEMPTS = 3;

/**
 * Starts a new lineage for `db` from the local file: claims the next free sequence `S` with an
 * empty segment carrying the term's epoch (its `prev_checksum` is random, so followers of an
 * older lineage stop at a chain break and restore the new snapshot), then streams the whole file
 * as the snapshot at `S`. Sequences never go back: `S` is above every existing segment and
 * snapshot. The file must be at rest (no checkpoint may run during the call).
 */
export async function startNewLineage(
  options: ResolvedOptions,
  db: string,
  path: string,
  term: LeaderTerm,
  signal: AbortSignal,
): Promise<LeaderState> {
  await rm(outgoingPath(path), { force: true });
  const handle = await leaderFileHandle(path);
  const epoch = BigInt(term.epoch);
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(signal);
    const seq = (await storageHead(options, db, signal)) + 1n;
    const claim = newSegment(seq, randomBytes(8).readBigUInt64BE(0), [], {
      epoch,
      createdMs: createdMsNow(options.clock),
    });
    const outcome = await writeSegmentFenced(options, db, seq, encodeSegment(claim), claim.checksum, term, signal);
    if (outcome === 'late-write') {
      if (attempt < CLAIM_ATTEMPTS) continue;
      throw new DuckblockError(
        'HADB_DUCKBLOCK_SEQ_CONFLICT',
        `${db}: could not claim a sequence after ${attempt} attempts`,
      );
    }
    let snap;
    for (let tries = 1; ; tries++) {
      try {
        term.fence.check();
        snap = await uploadSnapshot(options.storage, snapshotKey(options.prefix, db, seq), handle, {
          seq,
          anchor: claim.checksum,
          epoch,
          createdMs: createdMsNow(options.clock),
          signal,
        });
        break;
      } catch (err) {
        if (!isDuckblockError(err, 'HADB_DUCKBLOCK_TORN_READ') || tries >= SNAPSHOT_READ_ATTEMPTS) throw err;
      }
    }
    const state = newLeaderState({
      db,
      path,
      handle,
      term,
      seq,
      checksum: claim.checksum,
      manifest: snap.manifest,
      fileSize: snap.fileSize,
      now: options.clock.now(),
    });
    await persistLeaderPosition(state);
    options.logger.info({ db, seq, epoch: term.epoch, bytes: snap.bytes }, 'duckblock: new lineage with snapshot');
    return state;
  }
}

/**
 * Continues the existing chain after a promotion. The local file must be the durable head as
 * applied by this node (its position file matches storage); segments that landed since (a late
 * write of the previous term) are applied first, and a segment of a newer term trips the fence.
 * Then the next sequence is claimed. Resolves `'mismatch'` when the local position does not match
 * storage (or there is none): the caller starts a new lineage instead. A local file changed
 * outside replication rejects with `HADB_DUCKBLOCK_DIVERGED`. DuckDB must not have the file open
 * read-write during this call.
 */
export async function continueChain(
  options: ResolvedOptions,
  db: string,
  path: string,
  term: LeaderTerm,
  signal: AbortSignal,
): Promise<LeaderState | 'mismatch'> {
  const epoch = BigInt(term.epoch);
  for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
    throwIfAborted(signal);
    const pulled = await pullIncremental(options.storage, options.prefix, db, path, {
      signal,
      concurrency: options.downloadConcurrency,
      streamAboveBytes: options.streamAboveBytes,
      maxFileSize: options.maxFileSizeBytes,
      removeWal: false,
      admitEpoch: (e) => {
        if (e > epoch) {
          term.fence.trip(`segment of epoch ${e} found while starting term ${epoch}`);
          throw new DuckblockError(
            'HADB_DUCKBLOCK_FENCED',
            `${db}: storage holds epoch ${e}, newer than this term (${epoch})`,
          );
        }
      },
    });
    const position = pulled.position ?? (await readPosition(path));
    const match = position === null ? 'mismatch' : await matchesStorage(options, db, position, signal);
    if (match === 'newer') continue; // Another late write landed meanwhile: apply it first.
    if (position === null || match === 'mismatch') return 'mismatch';
    const seq = position.seq + 1n;
    const claim = newSegment(seq, position.checksum, [], { epoch, createdMs: createdMsNow(options.clock) });
    const outcome = await writeSegmentFenced(options, db, seq, encodeSegment(claim), claim.checksum, term, signal);
    if (outcome === 'late-write') continue;
    const handle = await leaderFileHandle(path);
    const state = newLeaderState({
      db,
      path,
      handle,
      term,
      seq,
      checksum: claim.checksum,
      manifest: position.manifest,
      fileSize: 0,
      now: options.clock.now(),
    });
    await persistLeaderPosition(state);
    options.logger.info({ db, seq, epoch: term.epoch }, 'duckblock: continuing chain');
    return state;
  }
  throw new DuckblockError(
    'HADB_DUCKBLOCK_SEQ_CONFLICT',
    `${db}: could not claim a sequence (late writes kept arriving)`,
  );
}

/** Highest sequence used by any incremental segment or snapshot (0 when none). */
async function storageHead(options: ResolvedOptions, db: string, signal: AbortSignal): Promise<bigint> {
  const segments = await discoverSegmentsAfter(options.storage, options.prefix, db, 0n, { signal });
  const snap = await discoverLatestSnapshotSegment(options.storage, options.prefix, db, { signal });
  let head = segments.length > 0 ? segments[segments.length - 1]!.seq : 0n;
  if (snap !== null && snap.seq > head) head = snap.seq;
  return head;
}

/** Byte offset of `prev_checksum` (u64, big-endian) in a `.hadbp` header (the format's layout). */
const HADBP_PREV_CHECKSUM_OFFSET = 20;

/**
 * Whether storage's chain at `position.seq` has `position.checksum` (`'match'`), has segments
 * after it (`'newer'`), or does not contain this position (`'mismatch'`). Reads two small ranges:
 * the segment's trailer (its checksum) or, when the position is a snapshot, the snapshot header's
 * `prev_checksum` (the chain anchor it carries).
 */
async function matchesStorage(
  options: ResolvedOptions,
  db: string,
  position: Position,
  signal: AbortSignal,
): Promise<'match' | 'newer' | 'mismatch'> {
  const { storage, prefix } = options;
  const newer = await discoverSegmentsAfter(storage, prefix, db, position.seq, { signal });
  if (newer.length > 0) return 'newer';
  const key = incrementalKey(prefix, db, position.seq);
  const info = await storage.head(key, { signal });
  if (info !== null && info.size >= HADBP_MIN_SIZE) {
    const trailer = await storage.rangeGet(key, info.size - HADBP_TRAILER_SIZE, HADBP_TRAILER_SIZE, { signal });
    const same =
      trailer !== null &&
      trailer.length === HADBP_TRAILER_SIZE &&
      Buffer.from(trailer).readBigUInt64BE(0) === position.checksum;
    return same ? 'match' : 'mismatch';
  }
  const header = await storage.rangeGet(snapshotKey(prefix, db, position.seq), 0, HADBP_HEADER_SIZE, { signal });
  const same =
    header !== null &&
    header.length === HADBP_HEADER_SIZE &&
    Buffer.from(header).readBigUInt64BE(HADBP_PREV_CHECKSUM_OFFSET) === position.checksum;
  return same ? 'match' : 'mismatch';
}
