import type { FileHandle } from 'node:fs/promises';
import type { LeaderTerm } from '@hadb/core';
import { DuckblockError } from './errors.js';
import type { BlockManifest } from './manifest.js';
import { writePosition } from './position.js';

/** An encoded segment: in memory, or spilled to a local file (large checkpoints). */
export type SegmentBody =
  | { readonly kind: 'memory'; readonly bytes: Uint8Array }
  | { readonly kind: 'file'; readonly path: string; readonly size: number };

/** Bytes of a segment body. */
export function bodySize(body: SegmentBody): number {
  return body.kind === 'memory' ? body.bytes.length : body.size;
}

/** A captured, encoded segment that is not in storage yet. */
export interface CapturedSegment {
  /**
   * `ready`: prepared, upload not started; `uploading`: being written; `done`: in storage;
   * `superseded`: replaced by a later capture before its upload started (nothing lost: the later
   * capture diffs against the last *uploaded* state).
   */
  status: 'ready' | 'uploading' | 'done' | 'superseded';
  readonly seq: bigint;
  readonly checksum: bigint;
  readonly body: SegmentBody;
  readonly manifest: BlockManifest;
  readonly fileSize: number;
  readonly blocks: number;
  readonly headerPages: number;
}

/** What the leader of one database has shipped, and its serialised work queue. */
export interface LeaderState {
  readonly db: string;
  readonly path: string;
  /** duckblock's long-lived read handle on the database file (see `leaderFileHandle`). */
  readonly handle: FileHandle;
  readonly term: LeaderTerm;
  readonly epoch: bigint;
  /** Head of the shipped chain. */
  seq: bigint;
  checksum: bigint;
  /** Block manifest of the file as last shipped (the next capture diffs against it). */
  manifest: BlockManifest;
  fileSize: number;
  /** Snapshot policy counters (`lastSnapshotAt` on the replicator's clock). */
  lastSnapshotAt: number;
  segmentsSinceSnapshot: number;
  bytesSinceSnapshot: number;
  /** Serialises operations on this database. */
  queue: Promise<unknown>;
  /** The last prepared, not yet uploaded capture. */
  pending: CapturedSegment | undefined;
  removed: boolean;
}

/** A fresh leader state at the claimed head `seq`. */
export function newLeaderState(init: {
  db: string;
  path: string;
  handle: FileHandle;
  term: LeaderTerm;
  seq: bigint;
  checksum: bigint;
  manifest: BlockManifest;
  fileSize: number;
  now: number;
}): LeaderState {
  return {
    db: init.db,
    path: init.path,
    handle: init.handle,
    term: init.term,
    epoch: BigInt(init.term.epoch),
    seq: init.seq,
    checksum: init.checksum,
    manifest: init.manifest,
    fileSize: init.fileSize,
    lastSnapshotAt: init.now,
    segmentsSinceSnapshot: 0,
    bytesSinceSnapshot: 0,
    queue: Promise.resolve(),
    pending: undefined,
    removed: false,
  };
}

/** Runs `fn` after every earlier operation on `state`; `HADB_DUCKBLOCK_CLOSED` once it was removed. */
export function runExclusive<T>(state: LeaderState, fn: () => Promise<T>): Promise<T> {
  const run = state.queue
    .catch(() => undefined)
    .then(() => {
      if (state.removed) throw new DuckblockError('HADB_DUCKBLOCK_CLOSED', `${state.db} was removed`);
      return fn();
    });
  state.queue = run;
  return run;
}

/** Persists the shipped head beside the file (the position a promoted node continues from). */
export async function persistLeaderPosition(state: LeaderState): Promise<void> {
  await writePosition(state.path, {
    seq: state.seq,
    checksum: state.checksum,
    epoch: state.epoch,
    manifest: state.manifest,
  });
}

/** `a` and `b` combined (`b` alone without `a`). */
export function combineSignals(a: AbortSignal | undefined, b: AbortSignal): AbortSignal {
  return a === undefined ? b : AbortSignal.any([a, b]);
}
