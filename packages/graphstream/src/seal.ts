import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { GraphstreamError } from './errors.js';
import { HEADER_SIZE, type JournalEntry, decodeHeader, hashToU64, readEntries, sealSegmentBytes } from './format.js';
import { ioError, writeFileAtomic } from './fsutil.js';
import { inDir } from './naming.js';
import type { JournalPosition } from './recovery.js';

/** A sealed local segment. */
export interface SealedSegment {
  /** Absolute or dir-relative path of the file. */
  readonly path: string;
  /** File name, e.g. `journal-0000000000000001.hadbj`. */
  readonly name: string;
  readonly firstSeq: bigint;
  readonly lastSeq: bigint;
  readonly entryCount: number;
  /** Hash of the last entry (the trailer). */
  readonly chainHash: Uint8Array;
  /** Size of the sealed file in bytes. */
  readonly bytes: number;
}

/** File that remembers the journal position when no segment is left locally. */
export const RECOVERY_FILE = 'recovery.json';

/**
 * Seals a live (unsealed) segment file: reads its entries, checks their CRCs and chain, and
 * replaces the file atomically (temporary file + fsync + rename + directory fsync) with the sealed,
 * zstd-compressed segment. A crash leaves either the live file or the sealed one, both complete.
 */
export async function sealLiveSegment(
  dir: string,
  path: string,
  options: { zstdLevel: number; now: () => number },
): Promise<SealedSegment> {
  let raw: Uint8Array;
  try {
    raw = await readFile(path);
  } catch (cause) {
    throw ioError(`could not read ${path}`, cause, path);
  }
  const header = decodeHeader(raw);
  const { entries, end } = readEntries(raw, HEADER_SIZE);
  if (end !== raw.length) {
    throw new GraphstreamError('HADB_GRAPHSTREAM_CORRUPT', 'live segment has a torn tail at seal time', {
      location: path,
    });
  }
  const first = entries[0];
  if (first === undefined || first.seq !== header.firstSeq) {
    throw new GraphstreamError('HADB_GRAPHSTREAM_CORRUPT', 'live segment does not start at its header first_seq', {
      location: path,
    });
  }
  const sealed = await sealSegmentBytes(
    entries,
    hashToU64(first.prevHash),
    BigInt(Math.trunc(options.now())),
    options.zstdLevel,
  );
  await writeFileAtomic(dir, path, [sealed.bytes]);
  const last = entries[entries.length - 1] as JournalEntry;
  return {
    path,
    name: basename(path),
    firstSeq: first.seq,
    lastSeq: last.seq,
    entryCount: entries.length,
    chainHash: sealed.chainHash,
    bytes: sealed.bytes.length,
  };
}

/** Writes `recovery.json` (`{"last_seq":N,"chain_hash":"<64 hex>"}`) atomically. */
export async function writeRecoveryState(dir: string, position: JournalPosition): Promise<void> {
  const json = JSON.stringify({
    last_seq: Number(position.seq),
    chain_hash: Buffer.from(position.chainHash).toString('hex'),
  });
  // Sequences beyond 2^53 are written as exact decimal digits rather than a rounded float.
  const exact = json.replace(/"last_seq":[^,]+/, `"last_seq":${position.seq.toString()}`);
  await writeFileAtomic(dir, inDir(dir, RECOVERY_FILE), [new TextEncoder().encode(exact)]);
}

/** Reads `recovery.json`; `undefined` if missing, corrupt or `last_seq` is 0. */
export async function readRecoveryState(dir: string): Promise<JournalPosition | undefined> {
  let text: string;
  try {
    text = await readFile(inDir(dir, RECOVERY_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const m = /"last_seq"\s*:\s*(\d+)/.exec(text);
  const h = /"chain_hash"\s*:\s*"([0-9a-f]{64})"/.exec(text);
  if (m === null || h === null) return undefined;
  try {
    JSON.parse(text);
  } catch {
    return undefined;
  }
  const seq = BigInt(m[1]!);
  if (seq === 0n) return undefined;
  return { seq, chainHash: new Uint8Array(Buffer.from(h[1]!, 'hex')) };
}
