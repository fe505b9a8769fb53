/**
 * Capture: reads the WAL frames committed after a position, verifying salts and the running
 * checksum, stops at the last commit frame, and deduplicates pages (the last image of each page
 * wins). Frames after the last commit (a transaction still being written) are left for later.
 */
import { closeSync, openSync } from 'node:fs';
import {
  frameOffset,
  parseWalHeader,
  preadSome,
  scanFrames,
  WAL_FRAME_HEADER_SIZE,
  WAL_HEADER_SIZE,
  type WalHeader,
} from './wal.js';
import type { WalPosition } from './state.js';

/** Committed frames read in one capture. */
export interface CapturedBatch {
  /** Page images by page number (only pages within `dbPages`). */
  readonly pages: Map<number, Uint8Array>;
  /** Database size in pages at the last commit captured. */
  readonly dbPages: number;
  readonly pageSize: number;
  /** Position after the last commit captured. */
  readonly end: WalPosition;
  /** Frames covered (committed ones), and their bytes in the WAL. */
  readonly frames: number;
  readonly walBytes: number;
  /** The capture stopped at `maxBytes`: more committed frames follow `end`. */
  readonly more: boolean;
}

/** What a capture found. */
export type CaptureResult =
  | { readonly kind: 'batch'; readonly batch: CapturedBatch }
  /** Nothing new (the position may have moved to a restarted WAL: see `position`). */
  | { readonly kind: 'idle'; readonly position: WalPosition | null; readonly walFrames: number }
  /** The WAL was restarted or replaced in a way that may have dropped frames never read. */
  | { readonly kind: 'reset' };

/** Reads the WAL header (null if empty or invalid). */
export function walHeaderOf(fd: number): WalHeader | null {
  return parseWalHeader(preadSome(fd, WAL_HEADER_SIZE, 0));
}

/**
 * Captures committed frames after `from`. `restartSafe` says every frame of the WAL `from`
 * refers to was read before the current read lock was taken, so a WAL restart (new salts)
 * dropped nothing and reading continues at frame 0 of the new log. Stops early, at a commit,
 * once the captured pages exceed `maxBytes`.
 */
export function captureCommitted(
  walPath: string,
  from: WalPosition | null,
  restartSafe: boolean,
  maxBytes: number,
): CaptureResult {
  let fd: number;
  try {
    fd = openSync(walPath, 'r');
  } catch {
    return { kind: 'idle', position: from, walFrames: 0 };
  }
  try {
    const header = walHeaderOf(fd);
    if (header === null) return { kind: 'idle', position: from, walFrames: 0 };
    let start: WalPosition;
    if (from !== null && from.salt1 === header.salt1 && from.salt2 === header.salt2) {
      start = from;
    } else if (from === null || restartSafe) {
      start = { salt1: header.salt1, salt2: header.salt2, index: 0, cksum1: header.cksum1, cksum2: header.cksum2 };
    } else {
      return { kind: 'reset' };
    }
    // Page → frame index of its latest committed image; images are read once, at the end.
    const committed = new Map<number, number>();
    let pending = new Map<number, number>();
    let bytes = 0;
    let end: WalPosition = start;
    let dbPages = 0;
    let frames = 0;
    let more = false;
    scanFrames(fd, header, start.index, start.cksum1, start.cksum2, (frame) => {
      pending.set(frame.pgno, frame.index);
      if (frame.commitSize === 0) return false;
      for (const [pgno, index] of pending) {
        if (!committed.has(pgno)) bytes += header.pageSize;
        committed.set(pgno, index);
      }
      pending = new Map();
      dbPages = frame.commitSize;
      frames = frame.index + 1 - start.index;
      end = {
        salt1: header.salt1,
        salt2: header.salt2,
        index: frame.index + 1,
        cksum1: frame.cksum1,
        cksum2: frame.cksum2,
      };
      more = bytes >= maxBytes;
      return more;
    });
    if (frames === 0) return { kind: 'idle', position: start, walFrames: start.index };
    const pages = new Map<number, Uint8Array>();
    const frameSize = WAL_FRAME_HEADER_SIZE + header.pageSize;
    for (const [pgno, index] of committed) {
      if (pgno > dbPages) continue;
      // The read lock keeps verified frames in place; the frame header is checked again anyway.
      const buf = preadSome(fd, frameSize, frameOffset(header.pageSize, index));
      const view = new DataView(buf.buffer, buf.byteOffset, WAL_FRAME_HEADER_SIZE);
      if (
        buf.byteLength !== frameSize ||
        view.getUint32(0, false) !== pgno ||
        view.getUint32(8, false) !== header.salt1 ||
        view.getUint32(12, false) !== header.salt2
      ) {
        return { kind: 'reset' };
      }
      pages.set(pgno, buf.subarray(WAL_FRAME_HEADER_SIZE));
    }
    return {
      kind: 'batch',
      batch: {
        pages,
        dbPages,
        pageSize: header.pageSize,
        end,
        frames,
        walBytes: frames * (24 + header.pageSize),
        more,
      },
    };
  } finally {
    closeSync(fd);
  }
}

/**
 * Page → frame index of the latest committed image of each page in frames `[0, upTo)` of the
 * current WAL (used to overlay the database file when snapshotting). Returns the map and the
 * database size at the last commit (0 when there is none), or `null` if the WAL's salts differ
 * from `salts`.
 */
export function overlayIndex(
  walPath: string,
  position: WalPosition,
): { readonly frames: Map<number, number>; readonly dbPages: number; readonly header: WalHeader } | null {
  let fd: number;
  try {
    fd = openSync(walPath, 'r');
  } catch {
    return null;
  }
  try {
    const header = walHeaderOf(fd);
    if (header === null || header.salt1 !== position.salt1 || header.salt2 !== position.salt2) return null;
    const frames = new Map<number, number>();
    let pending = new Map<number, number>();
    let dbPages = 0;
    let seen = 0;
    if (position.index > 0) {
      seen = scanFrames(fd, header, 0, header.cksum1, header.cksum2, (frame) => {
        pending.set(frame.pgno, frame.index);
        if (frame.commitSize !== 0) {
          for (const [p, i] of pending) frames.set(p, i);
          pending = new Map();
          dbPages = frame.commitSize;
        }
        return frame.index + 1 >= position.index;
      });
    }
    if (seen < position.index) return null;
    return { frames, dbPages, header };
  } finally {
    closeSync(fd);
  }
}
