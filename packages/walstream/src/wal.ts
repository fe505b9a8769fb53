/**
 * SQLite WAL file format: the 32-byte header, 24-byte frame headers and the cumulative
 * checksum that links every frame to the header and to the frames before it. A frame is valid
 * only if its salts equal the header's and its checksum continues the running one; the first
 * invalid frame ends the log (what follows is left over from before a WAL restart).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export const WAL_HEADER_SIZE = 32;
export const WAL_FRAME_HEADER_SIZE = 24;
const MAGIC_LE = 0x377f0682;
const MAGIC_BE = 0x377f0683;

/** A parsed, checksum-verified WAL header. */
export interface WalHeader {
  readonly bigEndian: boolean;
  readonly pageSize: number;
  readonly checkpointSeq: number;
  readonly salt1: number;
  readonly salt2: number;
  /** Running checksum after the header (the seed of frame 0). */
  readonly cksum1: number;
  readonly cksum2: number;
}

/** SQLite's WAL checksum over `data` (length a multiple of 8), continuing from `s1`, `s2`. */
export function walChecksum(data: Uint8Array, bigEndian: boolean, s1: number, s2: number): [number, number] {
  let a = s1 >>> 0;
  let b = s2 >>> 0;
  if (bigEndian === HOST_BIG_ENDIAN && data.byteOffset % 4 === 0) {
    // Native word order: read the words directly (several times faster than DataView).
    const words = new Uint32Array(data.buffer, data.byteOffset, data.byteLength >>> 2);
    for (let i = 0; i < words.length; i += 2) {
      a = (a + words[i]! + b) >>> 0;
      b = (b + words[i + 1]! + a) >>> 0;
    }
    return [a, b];
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const little = !bigEndian;
  for (let i = 0; i < data.byteLength; i += 8) {
    a = (a + view.getUint32(i, little) + b) >>> 0;
    b = (b + view.getUint32(i + 4, little) + a) >>> 0;
  }
  return [a, b];
}

const HOST_BIG_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 0;

/** Parses and verifies a WAL header; `null` if the bytes are not a valid header. */
export function parseWalHeader(buf: Uint8Array): WalHeader | null {
  if (buf.byteLength < WAL_HEADER_SIZE) return null;
  const view = new DataView(buf.buffer, buf.byteOffset, WAL_HEADER_SIZE);
  const magic = view.getUint32(0, false);
  if (magic !== MAGIC_LE && magic !== MAGIC_BE) return null;
  const bigEndian = magic === MAGIC_BE;
  const [c1, c2] = walChecksum(buf.subarray(0, 24), bigEndian, 0, 0);
  if (c1 !== view.getUint32(24, false) || c2 !== view.getUint32(28, false)) return null;
  const pageSize = view.getUint32(8, false);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return null;
  return {
    bigEndian,
    pageSize,
    checkpointSeq: view.getUint32(12, false),
    salt1: view.getUint32(16, false),
    salt2: view.getUint32(20, false),
    cksum1: c1,
    cksum2: c2,
  };
}

/** Frames in the first read of a scan (doubled on each further read). */
const FIRST_BATCH_FRAMES = 8;

/** One valid frame. */
export interface WalFrame {
  /** Index of the frame in the log (0-based). */
  readonly index: number;
  readonly pgno: number;
  /** Database size in pages after this commit; 0 for a non-commit frame. */
  readonly commitSize: number;
  /** Page image (a view into the read buffer). */
  readonly data: Uint8Array;
  /** Running checksum after this frame. */
  readonly cksum1: number;
  readonly cksum2: number;
}

/** Byte offset of frame `index` for `pageSize`. */
export function frameOffset(pageSize: number, index: number): number {
  return WAL_HEADER_SIZE + index * (WAL_FRAME_HEADER_SIZE + pageSize);
}

/** Reads an exact range of an open file; returns fewer bytes at end of file. */
export function preadSome(fd: number, length: number, position: number): Uint8Array {
  // A buffer of its own (not a slice of Node's pool), so its words are 4-byte aligned.
  const buf = Buffer.from(new ArrayBuffer(length));
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/**
 * Reads valid frames of the WAL at `fd` starting at frame `fromIndex` with running checksum
 * `(c1, c2)` (the header's for index 0), calling `onFrame` for each, until the first invalid or
 * missing frame. Reads in batches that start at a few frames and double up to about
 * `batchBytes`: the file may be much longer than its valid log (after a restart SQLite writes
 * over it from the start without truncating), and a capture of one small commit must not read
 * megabytes of stale frames. Returns the number of frames read.
 */
export function scanFrames(
  fd: number,
  header: WalHeader,
  fromIndex: number,
  c1: number,
  c2: number,
  // biome-ignore lint/suspicious/noConfusingVoidType: a callback that returns nothing continues the scan
  onFrame: (frame: WalFrame) => boolean | void,
  batchBytes = 4 << 20,
): number {
  const frameSize = WAL_FRAME_HEADER_SIZE + header.pageSize;
  const maxBatch = Math.max(1, Math.floor(batchBytes / frameSize));
  let perBatch = Math.min(maxBatch, FIRST_BATCH_FRAMES);
  let index = fromIndex;
  let s1 = c1;
  let s2 = c2;
  const size = fstatSync(fd).size;
  for (;;) {
    const at = frameOffset(header.pageSize, index);
    const available = Math.floor(Math.max(0, size - at) / frameSize);
    if (available === 0) return index - fromIndex;
    const buf = preadSome(fd, Math.min(perBatch, available) * frameSize, at);
    const whole = Math.floor(buf.byteLength / frameSize);
    for (let i = 0; i < whole; i++) {
      const off = i * frameSize;
      const view = new DataView(buf.buffer, buf.byteOffset + off, WAL_FRAME_HEADER_SIZE);
      if (view.getUint32(8, false) !== header.salt1 || view.getUint32(12, false) !== header.salt2)
        return index - fromIndex;
      const pgno = view.getUint32(0, false);
      if (pgno === 0) return index - fromIndex;
      let [a, b] = walChecksum(buf.subarray(off, off + 8), header.bigEndian, s1, s2);
      [a, b] = walChecksum(buf.subarray(off + WAL_FRAME_HEADER_SIZE, off + frameSize), header.bigEndian, a, b);
      if (a !== view.getUint32(16, false) || b !== view.getUint32(20, false)) return index - fromIndex;
      s1 = a;
      s2 = b;
      const stop = onFrame({
        index,
        pgno,
        commitSize: view.getUint32(4, false),
        data: buf.subarray(off + WAL_FRAME_HEADER_SIZE, off + frameSize),
        cksum1: a,
        cksum2: b,
      });
      index++;
      if (stop === true) return index - fromIndex;
    }
    if (whole < Math.min(perBatch, available)) return index - fromIndex;
    perBatch = Math.min(maxBatch, perBatch * 2);
  }
}

/** Whole frames a WAL file of `size` bytes holds for `pageSize` (valid or not: after a restart the file keeps its old length). */
export function framesInFile(size: number, pageSize: number): number {
  return Math.max(0, Math.floor((size - WAL_HEADER_SIZE) / (WAL_FRAME_HEADER_SIZE + pageSize)));
}

/**
 * Reads the WAL header of `walPath` and the frames its file holds (see {@link framesInFile});
 * `null` when the file is missing, short or invalid.
 */
export function readWalExtent(walPath: string): { readonly header: WalHeader; readonly frames: number } | null {
  let fd: number;
  try {
    fd = openSync(walPath, 'r');
  } catch {
    return null;
  }
  try {
    const size = fstatSync(fd).size;
    if (size < WAL_HEADER_SIZE) return null;
    const header = parseWalHeader(preadSome(fd, WAL_HEADER_SIZE, 0));
    return header === null ? null : { header, frames: framesInFile(size, header.pageSize) };
  } finally {
    closeSync(fd);
  }
}
