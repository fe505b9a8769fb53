import { join } from 'node:path';

/** Local live and sealed segment files: `journal-{first_seq, 16 decimal digits}.hadbj`. */
const SEGMENT_FILE = /^journal-(\d{16})\.hadbj$/;
/** Compacted segments written by the compactor: `compacted-{first:016}-{last:016}.hadbj` (decimal). */
const COMPACTED_FILE = /^compacted-(\d{16})-(\d{16})\.hadbj$/;

/** File name of the local segment starting at `firstSeq` (decimal, zero-padded to 16). */
export function segmentFileName(firstSeq: bigint): string {
  return `journal-${firstSeq.toString().padStart(16, '0')}.hadbj`;
}

/** First sequence of a local segment file name, or `undefined` if the name is not one. */
export function parseSegmentFileName(name: string): bigint | undefined {
  const m = SEGMENT_FILE.exec(name);
  return m === null ? undefined : BigInt(m[1]!);
}

/** File name of a compacted segment covering `firstSeq..lastSeq`. */
export function compactedFileName(firstSeq: bigint, lastSeq: bigint): string {
  return `compacted-${firstSeq.toString().padStart(16, '0')}-${lastSeq.toString().padStart(16, '0')}.hadbj`;
}

/** `[first, last]` of a compacted segment file name, or `undefined`. */
export function parseCompactedFileName(name: string): readonly [bigint, bigint] | undefined {
  const m = COMPACTED_FILE.exec(name);
  return m === null ? undefined : [BigInt(m[1]!), BigInt(m[2]!)];
}

/** Temporary files end with this; recovery deletes them (a rename is every write's commit point). */
export const TMP_SUFFIX = '.tmp';

/** `path` + a unique temporary suffix. */
export function tmpPath(path: string): string {
  return `${path}.${process.pid}.${Math.random().toString(16).slice(2, 10)}${TMP_SUFFIX}`;
}

/** Joins a journal directory and a file name. */
export function inDir(dir: string, name: string): string {
  return join(dir, name);
}
