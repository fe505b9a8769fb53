import { open, readFile, readdir, rm, stat, truncate } from 'node:fs/promises';
import { throwIfAborted, type OpOptions } from '@hadb/io';
import { GraphstreamError, graphstreamAborted } from './errors.js';
import {
  FLAG_HAS_CHAIN_HASH,
  FLAG_SEALED,
  HEADER_SIZE,
  TRAILER_SIZE,
  ZERO_HASH,
  decodeHeader,
  decodeSealed,
  readEntries,
} from './format.js';
import { fsyncDir, ioError } from './fsutil.js';
import { TMP_SUFFIX, inDir, parseSegmentFileName } from './naming.js';
import { readRecoveryState } from './seal.js';

/** Where a journal stands: the last entry's sequence and chain hash (0 and zeros when empty). */
export interface JournalPosition {
  readonly seq: bigint;
  readonly chainHash: Uint8Array;
}

/** The unsealed segment found by recovery, if any. */
export interface RecoveredLiveSegment {
  readonly path: string;
  readonly firstSeq: bigint;
  /** File size after truncating a torn tail. */
  readonly size: number;
  readonly entries: number;
}

/** Result of {@link recoverJournal}. */
export interface RecoveryResult {
  readonly position: JournalPosition;
  readonly live: RecoveredLiveSegment | undefined;
  /** How the position was found. */
  readonly method: 'empty' | 'sealed-trailer' | 'live-scan' | 'full-scan' | 'recovery-file';
  /** Bytes cut from a torn tail of the live segment. */
  readonly truncatedBytes: number;
}

/** A local segment file and its first sequence (from the decimal file name). */
export interface LocalSegmentFile {
  readonly name: string;
  readonly path: string;
  readonly firstSeq: bigint;
}

/** Local `journal-*.hadbj` files of `dir`, ascending by first sequence. */
export async function listSegmentFiles(dir: string): Promise<LocalSegmentFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError(`could not list ${dir}`, cause, dir);
  }
  const out: LocalSegmentFile[] = [];
  for (const name of names) {
    const firstSeq = parseSegmentFileName(name);
    if (firstSeq !== undefined) out.push({ name, path: inDir(dir, name), firstSeq });
  }
  return out.sort((a, b) => (a.firstSeq < b.firstSeq ? -1 : a.firstSeq > b.firstSeq ? 1 : 0));
}

async function readRange(path: string, position: number, length: number): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const buf = new Uint8Array(length);
    let off = 0;
    while (off < length) {
      const { bytesRead } = await fh.read(buf, off, length - off, position + off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off);
  } finally {
    await fh.close();
  }
}

/**
 * O(1) position of a sealed segment: its header's `last_seq` and its chain-hash trailer, when the
 * file has exactly the length the header announces. `undefined` if that cannot be trusted.
 */
async function sealedTail(path: string): Promise<JournalPosition | undefined> {
  try {
    const size = (await stat(path)).size;
    if (size < HEADER_SIZE + TRAILER_SIZE) return undefined;
    const header = decodeHeader(await readRange(path, 0, HEADER_SIZE));
    if ((header.flags & FLAG_SEALED) === 0 || (header.flags & FLAG_HAS_CHAIN_HASH) === 0) return undefined;
    if (BigInt(size) !== BigInt(HEADER_SIZE) + header.bodyLen + BigInt(TRAILER_SIZE)) return undefined;
    if (header.lastSeq < header.firstSeq || header.entryCount === 0n) return undefined;
    const trailer = await readRange(path, size - TRAILER_SIZE, TRAILER_SIZE);
    return { seq: header.lastSeq, chainHash: trailer };
  } catch {
    return undefined;
  }
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Options of {@link recoverJournal}. */
export interface RecoverOptions extends OpOptions {
  /** Cut a torn tail off the live segment (the writer does; read-only inspection does not). */
  readonly truncateTornTail?: boolean;
}

/**
 * Finds the durable state of the journal in `dir`:
 * 1. newest file sealed with a chain-hash trailer ⇒ header `last_seq` + trailer (O(1));
 * 2. newest file unsealed (live) ⇒ scan its entries, stopping at the first torn or invalid one
 *    (truncated away when `truncateTornTail`), linked to the previous segment's position;
 * 3. anything else ⇒ full scan and verification of every segment;
 * 4. no segment ⇒ `recovery.json`, else empty.
 * Temporary files left by an interrupted write are deleted. Corruption that is not a torn tail of
 * the live segment throws `HADB_GRAPHSTREAM_CORRUPT`.
 */
export async function recoverJournal(dir: string, options: RecoverOptions = {}): Promise<RecoveryResult> {
  throwIfAborted(options.signal, graphstreamAborted);
  await removeTmpFiles(dir, options.truncateTornTail === true);
  const files = await listSegmentFiles(dir);
  const newest = files[files.length - 1];
  if (newest === undefined) {
    const saved = await readRecoveryState(dir);
    return saved === undefined
      ? { position: { seq: 0n, chainHash: ZERO_HASH }, live: undefined, method: 'empty', truncatedBytes: 0 }
      : { position: saved, live: undefined, method: 'recovery-file', truncatedBytes: 0 };
  }
  const tail = await sealedTail(newest.path);
  if (tail !== undefined) {
    return { position: tail, live: undefined, method: 'sealed-trailer', truncatedBytes: 0 };
  }
  const headBytes = await readRange(newest.path, 0, HEADER_SIZE);
  let unsealed = false;
  if (headBytes.length === HEADER_SIZE) {
    try {
      unsealed = (decodeHeader(headBytes).flags & FLAG_SEALED) === 0;
    } catch {
      unsealed = false;
    }
  } else if (options.truncateTornTail === true) {
    // A live file is created by rename with its whole header, so a short one is not ours to keep.
    await rm(newest.path, { force: true });
    await fsyncDir(dir);
    return recoverJournal(dir, options);
  }
  if (unsealed) {
    const before = files.length > 1 ? await positionBefore(dir, files.slice(0, -1), options) : undefined;
    return recoverLive(dir, newest, before, options);
  }
  return fullScan(dir, files, options);
}

/** Position at the end of `files` (all sealed): O(1) from the last one, else a full scan. */
async function positionBefore(
  dir: string,
  files: LocalSegmentFile[],
  options: RecoverOptions,
): Promise<JournalPosition> {
  const last = files[files.length - 1]!;
  const tail = await sealedTail(last.path);
  if (tail !== undefined) return tail;
  return (await fullScan(dir, files, options)).position;
}

async function recoverLive(
  dir: string,
  file: LocalSegmentFile,
  before: JournalPosition | undefined,
  options: RecoverOptions,
): Promise<RecoveryResult> {
  let raw: Uint8Array;
  try {
    raw = await readFile(file.path);
  } catch (cause) {
    throw ioError(`could not read ${file.path}`, cause, file.path);
  }
  const header = decodeHeader(raw.subarray(0, HEADER_SIZE));
  if (header.firstSeq !== file.firstSeq) {
    throw new GraphstreamError('HADB_GRAPHSTREAM_CORRUPT', 'live segment header first_seq differs from its file name', {
      location: file.path,
    });
  }
  let anchor = before ?? (header.firstSeq === 1n ? { seq: 0n, chainHash: ZERO_HASH } : undefined);
  if (anchor === undefined) {
    // Earlier segments were cleaned up: recovery.json remembers the end of the last sealed one.
    const saved = await readRecoveryState(dir);
    if (saved !== undefined && saved.seq + 1n === header.firstSeq) anchor = saved;
  }
  if (anchor !== undefined && anchor.seq + 1n !== header.firstSeq) {
    throw new GraphstreamError('HADB_GRAPHSTREAM_CORRUPT', 'live segment does not follow the previous segment', {
      location: file.path,
    });
  }
  let scanned;
  try {
    scanned = readEntries(raw, HEADER_SIZE, {
      firstSeq: header.firstSeq,
      ...(anchor === undefined ? {} : { prevHash: anchor.chainHash }),
      stopAtInvalid: true,
    });
  } catch (cause) {
    throw new GraphstreamError('HADB_GRAPHSTREAM_CORRUPT', 'live segment entries do not chain', {
      cause,
      location: file.path,
    });
  }
  const { entries, end } = scanned;
  const truncatedBytes = raw.length - end;
  if (truncatedBytes > 0 && options.truncateTornTail === true) {
    await truncate(file.path, end);
    const fh = await open(file.path, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
  const last = entries[entries.length - 1];
  if (last === undefined) {
    if (options.truncateTornTail === true) {
      await rm(file.path, { force: true });
      await fsyncDir(dir);
    }
    return {
      position: anchor ?? (await readRecoveryState(dir)) ?? { seq: header.firstSeq - 1n, chainHash: ZERO_HASH },
      live: undefined,
      method: 'live-scan',
      truncatedBytes,
    };
  }
  return {
    position: { seq: last.seq, chainHash: last.hash },
    live: { path: file.path, firstSeq: header.firstSeq, size: end, entries: entries.length },
    method: 'live-scan',
    truncatedBytes,
  };
}

/** Decodes and verifies every segment and their linkage; the newest may be live. */
async function fullScan(dir: string, files: LocalSegmentFile[], options: RecoverOptions): Promise<RecoveryResult> {
  let position: JournalPosition | undefined;
  for (let i = 0; i < files.length; i++) {
    throwIfAborted(options.signal, graphstreamAborted);
    const file = files[i]!;
    const raw = await readFile(file.path).catch((cause: unknown) => {
      throw ioError(`could not read ${file.path}`, cause, file.path);
    });
    let header;
    try {
      header = decodeHeader(raw.subarray(0, HEADER_SIZE));
    } catch (cause) {
      throw new GraphstreamError('HADB_GRAPHSTREAM_CORRUPT', 'segment header is invalid', {
        cause,
        location: file.path,
      });
    }
    if ((header.flags & FLAG_SEALED) === 0) {
      if (i !== files.length - 1) {
        throw new GraphstreamError('HADB_GRAPHSTREAM_CORRUPT', 'an unsealed segment is not the newest one', {
          location: file.path,
        });
      }
      const live = await recoverLive(dir, file, position, options);
      return { ...live, method: 'full-scan' };
    }
    let seg;
    try {
      seg = decodeSealed(raw);
    } catch (cause) {
      throw new GraphstreamError('HADB_GRAPHSTREAM_CORRUPT', 'sealed segment failed verification', {
        cause,
        location: file.path,
      });
    }
    const first = seg.entries[0]!;
    if (position !== undefined && position.seq >= first.seq) {
      // An overlapping (for example compacted) segment: its newer part must extend the chain.
      const next = seg.entries.find((e) => e.seq === position!.seq + 1n);
      const at = seg.entries.find((e) => e.seq === position!.seq);
      if (at !== undefined && !sameHash(at.hash, position.chainHash)) {
        throw new GraphstreamError('HADB_GRAPHSTREAM_CHAIN_MISMATCH', 'overlapping local segments disagree', {
          location: file.path,
          seq: at.seq,
        });
      }
      if (next === undefined) continue;
    } else if (position !== undefined) {
      if (first.seq !== position.seq + 1n) {
        throw new GraphstreamError('HADB_GRAPHSTREAM_CORRUPT', `local journal gap after seq ${position.seq}`, {
          location: file.path,
          seq: position.seq,
        });
      }
      if (!sameHash(first.prevHash, position.chainHash)) {
        throw new GraphstreamError('HADB_GRAPHSTREAM_CHAIN_MISMATCH', `chain hash mismatch at seq ${first.seq}`, {
          location: file.path,
          seq: first.seq,
        });
      }
    }
    const last = seg.entries[seg.entries.length - 1]!;
    position = { seq: last.seq, chainHash: seg.chainHash };
  }
  return {
    position: position ?? { seq: 0n, chainHash: ZERO_HASH },
    live: undefined,
    method: 'full-scan',
    truncatedBytes: 0,
  };
}

async function removeTmpFiles(dir: string, remove: boolean): Promise<void> {
  if (!remove) return;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const tmps = names.filter((n) => n.endsWith(TMP_SUFFIX));
  for (const n of tmps) await rm(inDir(dir, n), { force: true });
  if (tmps.length > 0) await fsyncDir(dir);
}
