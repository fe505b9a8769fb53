/**
 * Walstream's checkpoint, run where the connections live (the WAL thread). Every frame a
 * checkpoint may move has been read first, and the WAL can restart only once everything in it
 * was read:
 * 1. Bulk rounds, while writers go on: catch up with the WAL, then — with writes locked for the
 *    moment it takes to read the few frames committed meanwhile — move the read transaction to
 *    the end of what was read; a `PASSIVE` checkpoint on the other connection then backfills up to
 *    it (never further: the read transaction bounds it).
 * 2. The final round, with writes locked throughout: read the last frames, drop the read
 *    transaction, checkpoint, take it again. Only the frames committed during the bulk rounds are
 *    left to backfill, so writers wait briefly. A `PASSIVE` checkpoint that completes lets the
 *    next commit restart the WAL.
 * `TRUNCATE` skips the bulk rounds and runs with writes unlocked (it takes the lock itself); a
 * commit that slips in before it is reported as `raced`.
 */
import { captureCommitted, type CaptureResult } from './capture.js';
import type { Connections } from './connections.js';
import { samePosition, type WalPosition } from './state.js';

/** Inputs of {@link checkpointCycle}. */
export interface CheckpointCycleInput {
  readonly mode: 'PASSIVE' | 'TRUNCATE';
  readonly walPath: string;
  /** Position after the last frame read so far, and whether a WAL restart at it drops nothing (see `captureCommitted`). */
  readonly cursor: WalPosition | null;
  readonly restartSafe: boolean;
  readonly maxBytes: number;
  /** The page size shipped so far (0: none yet): a batch of another size stops the cycle. */
  readonly pageSize: number;
  /** Bulk rounds before the final one. */
  readonly bulkRounds: number;
}

/** What {@link checkpointCycle} did. */
export interface CheckpointCycleResult {
  /** Every capture made, in order: the caller applies them as its own captures. */
  readonly captures: CaptureResult[];
  /** False when writers held the write lock, or a capture found something to handle first (no final checkpoint ran). */
  readonly ran: boolean;
  /** The final checkpoint moved every frame (`PASSIVE`), or was not blocked (`TRUNCATE`). */
  readonly complete: boolean;
  /** `TRUNCATE` only: a commit landed between the last read and the checkpoint. */
  readonly raced: boolean;
  /**
   * Whether a WAL restart after the last capture drops nothing: true once the read transaction
   * was taken again with every committed frame read (writes locked), as `captureCommitted` expects.
   */
  readonly restartSafe: boolean;
}

/** Runs one checkpoint cycle on `conns` (see the module comment). */
export function checkpointCycle(conns: Connections, input: CheckpointCycleInput): CheckpointCycleResult {
  const captures: CaptureResult[] = [];
  let cursor = input.cursor;
  let restartSafe = input.restartSafe;
  /** Captures to the last commit; false when a capture stopped on something the caller must handle. */
  const catchUp = (): boolean => {
    for (;;) {
      const got = captureCommitted(input.walPath, cursor, restartSafe, input.maxBytes);
      captures.push(got);
      if (got.kind === 'reset') return false;
      if (got.kind === 'idle') {
        if (got.position !== null && !samePosition(got.position, cursor)) {
          cursor = got.position;
          restartSafe = false;
        }
        return true;
      }
      const { batch } = got;
      if (input.pageSize !== 0 && batch.pageSize !== input.pageSize) return false;
      if (cursor !== null && batch.end.salt1 !== cursor.salt1) restartSafe = false;
      cursor = batch.end;
    }
  };
  const notRun = (): CheckpointCycleResult => ({
    captures,
    ran: false,
    complete: false,
    raced: false,
    restartSafe,
  });
  /** Frames backfilled so far by the bulk rounds: a round that moves none ends them. */
  let bulkFrames = 0;
  if (input.mode === 'PASSIVE') {
    for (let round = 0; round < input.bulkRounds; round++) {
      if (!catchUp()) return notRun();
      if (!conns.tryLockWrites()) return notRun();
      try {
        if (!catchUp()) return notRun();
        // The read transaction moves to the end of what was read: the checkpoint below stops there.
        conns.releaseRead();
        conns.holdRead();
        restartSafe = true;
      } finally {
        conns.unlockWrites();
      }
      const [, , done] = conns.checkpointOther('PASSIVE');
      if (done <= bulkFrames) break;
      bulkFrames = done;
    }
  }
  if (!catchUp()) return notRun();
  if (!conns.tryLockWrites()) return notRun();
  let locked = true;
  let complete = false;
  let raced = false;
  try {
    // Commits since the last catch-up are read while writers wait.
    if (!catchUp()) return notRun();
    conns.releaseRead();
    if (input.mode === 'PASSIVE') {
      const [busy, log, done] = conns.checkpoint('PASSIVE');
      complete = busy === 0 && log === done;
    } else {
      const before = conns.dataVersion();
      conns.unlockWrites();
      locked = false;
      const [busy] = conns.checkpoint('TRUNCATE');
      complete = busy === 0;
      raced = conns.dataVersion() !== before;
    }
  } finally {
    conns.holdRead();
    if (locked) conns.unlockWrites();
  }
  return { captures, ran: true, complete, raced, restartSafe: true };
}
