import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isChangesetError, readPhysicalStream } from '@hadb/changeset';
import { fencedPutIfAbsent, type LeaderTerm } from '@hadb/core';
import { isStorageError } from '@hadb/storage';
import { incrementalKey } from './discovery.js';
import { DuckblockError } from './errors.js';
import { combineSignals, type SegmentBody } from './leader-state.js';
import type { ResolvedOptions } from './options.js';
import { quarantineObject } from './quarantine.js';
import { SegmentMarkers } from './segment.js';

/**
 * Writes a segment at `seq` with the term's fenced `putIfAbsent` (streamed from a spill file when
 * storage supports conditional streaming writes). Resolves `'written'` when this term's segment is
 * there (including an earlier attempt that landed), `'late-write'` when a lower epoch's segment
 * holds the key; trips the fence and throws `HADB_DUCKBLOCK_FENCED` for an equal-or-higher epoch's
 * segment that is not ours. A transient or ambiguous storage failure is resolved by re-reading
 * the key, up to `uploadRetries` times.
 *
 * An object at `seq` that does not verify as a segment (bad structure or checksum) was written by
 * no term — every writer uploads verified segments atomically — so it cannot be a newer term's
 * write: it is moved to the database's `_quarantine/` prefix, reported (`corruption`, see
 * `quarantineObject`), and the write retried once. Should it be back at once (something keeps
 * writing it), the term's fence is tripped and `HADB_DUCKBLOCK_SEQ_CONFLICT` thrown, as before.
 * A valid segment of any term is never moved or overwritten.
 */
export async function writeSegmentFenced(
  options: ResolvedOptions,
  db: string,
  seq: bigint,
  body: SegmentBody | Uint8Array,
  checksum: bigint,
  term: LeaderTerm,
  signal: AbortSignal,
): Promise<'written' | 'late-write'> {
  const key = incrementalKey(options.prefix, db, seq);
  const epoch = BigInt(term.epoch);
  const storage = options.storage;
  const segment: SegmentBody = body instanceof Uint8Array ? { kind: 'memory', bytes: body } : body;
  let quarantined = false;
  for (let attempt = 0; ; attempt++) {
    try {
      if (segment.kind === 'memory') {
        const res = await fencedPutIfAbsent(storage, key, segment.bytes, term.fence, { signal });
        if (res.success) return 'written';
      } else if (storage.capabilities.conditionalStreamingWrites) {
        // The fenced write of core's `fencedPutIfAbsent`, streamed from the spill file.
        term.fence.check();
        const res = await storage.putStream(key, createReadStream(segment.path, { highWaterMark: 1 << 20 }), {
          ifAbsent: true,
          contentLength: segment.size,
          signal: combineSignals(signal, term.fence.signal),
        });
        if (res.success) return 'written';
      } else {
        const bytes = new Uint8Array(await readFile(segment.path));
        const res = await fencedPutIfAbsent(storage, key, bytes, term.fence, { signal });
        if (res.success) return 'written';
      }
    } catch (err) {
      // A transient or ambiguous failure: the write may have landed. Re-read to find out.
      const transient =
        isStorageError(err, 'HADB_STORAGE_UNAVAILABLE') ||
        isStorageError(err, 'HADB_STORAGE_TIMEOUT') ||
        isStorageError(err, 'HADB_STORAGE_AMBIGUOUS');
      if (!transient || attempt >= options.uploadRetries) throw err;
    }
    const existing = await existingSegment(options, key, signal);
    if (existing === null) {
      if (attempt < options.uploadRetries) continue;
      throw new DuckblockError(
        'HADB_DUCKBLOCK_SEQ_CONFLICT',
        `${db}: conditional write of seq ${seq} failed but no object exists`,
      );
    }
    if (existing === 'unreadable' && !quarantined) {
      term.fence.check();
      quarantined = true;
      await quarantineObject(options, db, key, seq, signal);
      attempt--; // the retry after moving the object aside is not a storage retry
      continue;
    }
    if (existing === 'unreadable') {
      term.fence.trip(`unreadable object at ${key}`);
      throw new DuckblockError('HADB_DUCKBLOCK_SEQ_CONFLICT', `${db}: seq ${seq} is taken by an unreadable object`);
    }
    // The checksum covers the epoch marker: an equal checksum is this term's own earlier attempt.
    if (existing.checksum === checksum) return 'written';
    if (existing.epoch < epoch) return 'late-write';
    term.fence.trip(`seq ${seq} of ${db} was written under epoch ${existing.epoch}`);
    throw new DuckblockError(
      'HADB_DUCKBLOCK_FENCED',
      `${db}: seq ${seq} was written under epoch ${existing.epoch} (this term: ${epoch})`,
    );
  }
}

/** Checksum and epoch of the segment at `key` (streamed, verified), `null` if missing. */
async function existingSegment(
  options: ResolvedOptions,
  key: string,
  signal: AbortSignal,
): Promise<{ checksum: bigint; epoch: bigint } | 'unreadable' | null> {
  const object = await options.storage.getStream(key, { signal });
  if (object === null) return null;
  const reader = readPhysicalStream(object.body, { signal });
  const markers = new SegmentMarkers();
  try {
    for await (const page of reader) markers.take(page);
  } catch (err) {
    if (isChangesetError(err, 'HADB_CHANGESET_IO') && isStorageError(err.cause)) throw err.cause;
    return 'unreadable';
  }
  return reader.checksum === undefined ? 'unreadable' : { checksum: reader.checksum, epoch: markers.epoch };
}
