import { journalPath } from './local-files.js';
import { createHash } from 'node:crypto';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { fsyncParentDir } from './fsutil.js';

const JOURNAL_MAGIC = Buffer.from('HADBDKJ2', 'ascii');
/** Fixed part of the trailer after the JSON: u32 json length, u64 payload length, SHA-256, magic. */
const FIXED = 4 + 8 + 32 + 8;

/** What a committed journal records besides its payload. */
export interface JournalMeta {
  /** `apply`: the payload is a verified `.hadbp` segment to write; `restore`: rename the restore file. */
  readonly kind: 'apply' | 'restore';
  readonly seq: string;
  /** Chain checksum after the step (16 hex digits). */
  readonly checksum: string;
  readonly epoch: string;
  /** The step's `created_ms` (decimal), when known; absent in journals written before it existed. */
  readonly createdMs?: string | undefined;
}

/**
 * The journal trailer. Layout of a journal file: payload | json | u32 LE json length | u64 LE
 * payload length | SHA-256 of (json, both lengths) | magic `HADBDKJ2`. The trailer comes last so a
 * payload can be streamed into the file before the meta is known. The payload is a complete
 * `.hadbp` segment that was verified before the journal was committed; a journal becomes
 * visible only by an atomic rename after it was fsynced, so a torn journal is never seen.
 */
export function journalTrailer(meta: JournalMeta, payloadLength: number): Buffer {
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  const lens = Buffer.alloc(12);
  lens.writeUInt32LE(json.length, 0);
  lens.writeBigUInt64LE(BigInt(payloadLength), 4);
  const digest = createHash('sha256').update(json).update(lens).digest();
  return Buffer.concat([json, lens, digest, JOURNAL_MAGIC]);
}

/**
 * Reads a journal's trailer. Returns `null` when the file is missing, or incomplete/damaged
 * (then it was never committed and must be discarded: `exists` tells which).
 */
export async function readJournal(
  path: string,
): Promise<{ exists: boolean; meta: JournalMeta; payloadLength: number } | { exists: boolean; meta: null }> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false, meta: null };
    throw err;
  }
  try {
    const { size } = await fh.stat();
    if (size < FIXED) return { exists: true, meta: null };
    const fixed = Buffer.alloc(FIXED);
    await fh.read(fixed, 0, FIXED, size - FIXED);
    if (!fixed.subarray(FIXED - 8).equals(JOURNAL_MAGIC)) return { exists: true, meta: null };
    const jsonLen = fixed.readUInt32LE(0);
    const payloadLength = Number(fixed.readBigUInt64LE(4));
    if (payloadLength + jsonLen + FIXED !== size) return { exists: true, meta: null };
    const json = Buffer.alloc(jsonLen);
    await fh.read(json, 0, jsonLen, payloadLength);
    const digest = createHash('sha256').update(json).update(fixed.subarray(0, 12)).digest();
    if (!digest.equals(fixed.subarray(12, 44))) return { exists: true, meta: null };
    return { exists: true, meta: JSON.parse(json.toString('utf8')) as JournalMeta, payloadLength };
  } catch {
    return { exists: true, meta: null };
  } finally {
    await fh.close();
  }
}

/** Writes all of `parts` at `offset` (vectored, continuing after short writes). Returns the new offset. */
export async function writeAll(fh: FileHandle, parts: readonly Uint8Array[], offset: number): Promise<number> {
  let rest = parts.filter((p) => p.length > 0);
  let at = offset;
  while (rest.length > 0) {
    const batch = rest.slice(0, 512);
    const total = batch.reduce((n, b) => n + b.length, 0);
    const { bytesWritten } = await fh.writev(batch, at);
    at += bytesWritten;
    if (bytesWritten === total) {
      rest = rest.slice(512);
      continue;
    }
    let skip = bytesWritten;
    const next: Uint8Array[] = [];
    for (const p of rest) {
      if (skip >= p.length) {
        skip -= p.length;
        continue;
      }
      next.push(skip > 0 ? p.subarray(skip) : p);
      skip = 0;
    }
    rest = next;
  }
  return at;
}

/** Appends the trailer to an open journal temp file, fsyncs, closes and commits it by rename. */
export async function commitJournal(
  fh: FileHandle,
  tmp: string,
  path: string,
  meta: JournalMeta,
  payloadLength: number,
): Promise<void> {
  try {
    await writeAll(fh, [journalTrailer(meta, payloadLength)], payloadLength);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await fsyncParentDir(path);
}

/** Writes and commits a journal whose payload is in memory. */
export async function writeJournal(dbPath: string, meta: JournalMeta, payload: Uint8Array): Promise<void> {
  const path = journalPath(dbPath);
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await writeAll(fh, [payload], 0);
  } catch (err) {
    await fh.close();
    throw err;
  }
  await commitJournal(fh, tmp, path, meta, payload.length);
}
