/**
 * A leader's checkpoint shipping: capture what changed since the last shipped manifest (in memory,
 * or spilled to `<db>.hadb-outgoing` when large), write it as the next segment, advance the shipped
 * state. A captured segment moves `ready → uploading → done`, or to `superseded` when a later
 * capture replaces it before its upload started.
 */
import { rm } from 'node:fs/promises';
import { captureCheckpoint, captureToFile, detectDirtyBlocks } from './capture.js';
import { DuckblockError } from './errors.js';
import { writeSegmentFenced } from './fenced-write.js';
import { bodySize, persistLeaderPosition, type CapturedSegment, type LeaderState } from './leader-state.js';
import { writePosition } from './position.js';
import { outgoingPath } from './local-files.js';
import type { ResolvedOptions } from './options.js';
import { createdMsNow, encodeSegment, newSegment } from './segment.js';

/** What one shipped (or unchanged) checkpoint did. */
export interface ShippedSegment {
  /** Sequence of the segment written, or the unchanged head when nothing changed. */
  readonly seq: bigint;
  /** Whether a segment was written (false: the file had no changes since the last push). */
  readonly shipped: boolean;
  /** Bytes of the segment object. */
  readonly bytes: number;
  /** DuckDB blocks shipped. */
  readonly blocks: number;
  /** Header pages shipped (4 KiB each). */
  readonly headerPages: number;
}

/**
 * Reads what changed since the last shipped manifest (plus `extraBlocks`) and encodes it as the
 * next segment: in memory, or (when the changed blocks exceed `spillAboveBytes`) into
 * `<db>.hadb-outgoing`. Resolves `null` when nothing changed. No checkpoint may run meanwhile.
 */
export async function captureNextSegment(
  options: ResolvedOptions,
  state: LeaderState,
  extraBlocks: number[] | undefined,
  status: CapturedSegment['status'],
  signal: AbortSignal,
): Promise<CapturedSegment | null> {
  const seq = state.seq + 1n;
  const probe = detectDirtyBlocks(state.handle.fd, state.manifest, { extraBlocks });
  const changedBytes = probe.blocks.length * probe.scan.manifest.blockAllocSize;
  if (changedBytes > options.spillAboveBytes) {
    const spilled = await captureToFile(state.handle, state.manifest, {
      detected: probe,
      seq,
      prevChecksum: state.checksum,
      epoch: state.epoch,
      createdMs: createdMsNow(options.clock),
      path: outgoingPath(state.path),
      signal,
    });
    if (spilled === null) return null;
    return {
      status,
      seq,
      checksum: spilled.checksum,
      body: { kind: 'file', path: spilled.path, size: spilled.size },
      manifest: spilled.manifest,
      fileSize: spilled.fileSize,
      blocks: spilled.blocks.length,
      headerPages: spilled.headerPages.length,
    };
  }
  const captured = await captureCheckpoint(state.handle, state.manifest, { detected: probe });
  if (!captured.changed) return null;
  const segment = newSegment(seq, state.checksum, captured.pages, {
    epoch: state.epoch,
    fileSize: captured.fileSize,
    createdMs: createdMsNow(options.clock),
  });
  return {
    status,
    seq,
    checksum: segment.checksum,
    body: { kind: 'memory', bytes: encodeSegment(segment) },
    manifest: captured.manifest,
    fileSize: captured.fileSize,
    blocks: captured.blocks.length,
    headerPages: captured.headerPages.length,
  };
}

/** Writes a captured segment (fenced) and advances the shipped state (seq, checksum, manifest, position). */
export async function shipCapturedSegment(
  options: ResolvedOptions,
  state: LeaderState,
  captured: CapturedSegment,
  signal: AbortSignal,
): Promise<ShippedSegment> {
  const { db, term } = state;
  if (captured.seq !== state.seq + 1n) {
    throw new DuckblockError(
      'HADB_DUCKBLOCK_SUPERSEDED',
      `${db}: segment ${captured.seq} no longer follows the head ${state.seq}`,
    );
  }
  // The position is persisted beside the upload, not after it (one round of fsyncs less before a
  // write is acknowledged); a failed upload writes the shipped head back. After a crash it may
  // name a segment storage does not hold, which `continueChain` treats like a file checkpointed
  // but not shipped: a mismatch, so a new lineage starts from the file.
  const positioned = writePosition(state.path, {
    seq: captured.seq,
    checksum: captured.checksum,
    epoch: state.epoch,
    manifest: captured.manifest,
  });
  let outcome: 'written' | 'late-write';
  try {
    outcome = await writeSegmentFenced(options, db, captured.seq, captured.body, captured.checksum, term, signal);
  } catch (err) {
    await restorePosition(state, positioned);
    throw err;
  } finally {
    if (captured.body.kind === 'file') await rm(captured.body.path, { force: true });
  }
  if (outcome === 'late-write') {
    await restorePosition(state, positioned);
    // A valid segment of an older term holds the next sequence (a deposed leader's late write,
    // or a forged one that verifies): never overwritten, and this term cannot continue its chain
    // over it. Ending the term keeps ships from stalling: the next term starts its lineage above.
    state.term.fence.trip(`seq ${captured.seq} of ${db} holds a segment of an older term`);
    throw new DuckblockError(
      'HADB_DUCKBLOCK_SEQ_CONFLICT',
      `${db}: seq ${captured.seq} holds a late segment of an older term; this leader cannot continue its chain`,
    );
  }
  const bytes = bodySize(captured.body);
  state.seq = captured.seq;
  state.checksum = captured.checksum;
  state.manifest = captured.manifest;
  state.fileSize = captured.fileSize;
  state.segmentsSinceSnapshot++;
  state.bytesSinceSnapshot += bytes;
  await positioned;
  return { seq: captured.seq, shipped: true, bytes, blocks: captured.blocks, headerPages: captured.headerPages };
}

/** After a failed upload: the persisted position names the shipped head again (best effort). */
async function restorePosition(state: LeaderState, written: Promise<void>): Promise<void> {
  await written.catch(() => undefined);
  await persistLeaderPosition(state).catch(() => undefined);
}

/** Supersedes a prepared capture whose upload has not started (its changes are in the next capture). */
export async function supersedePending(state: LeaderState): Promise<void> {
  const p = state.pending;
  state.pending = undefined;
  if (p?.status === 'ready') {
    p.status = 'superseded';
    if (p.body.kind === 'file') await rm(p.body.path, { force: true });
  }
}
