import { createHash, hash } from 'node:crypto';
import { crc32c } from '../crc32c.js';
import { ChangesetError } from '../errors.js';
import { assertBytes, assertU64 } from '../validate.js';
import { ENTRY_HEADER_SIZE } from './constants.js';
import type { JournalEntry } from './types.js';

/** Chain hash of an entry: `SHA-256(prevHash || payload)` (sequence and CRC are not included). */
export function entryHash(prevHash: Uint8Array, payload: Uint8Array): Uint8Array {
  if (payload.length > 4096) {
    const digest = createHash('sha256').update(prevHash).update(payload).digest();
    return new Uint8Array(digest.buffer, digest.byteOffset, 32);
  }
  const input = new Uint8Array(prevHash.length + payload.length);
  input.set(prevHash, 0);
  input.set(payload, prevHash.length);
  // One-shot hashing is markedly cheaper than a Hash object for small inputs.
  const d = hash('sha256', input, 'buffer') as unknown as Buffer;
  return new Uint8Array(d.buffer, d.byteOffset, 32);
}

/** First 8 bytes of a 32-byte hash as a big-endian u64 (`hash_to_u64`). */
export function hashToU64(hash: Uint8Array): bigint {
  if (!(hash instanceof Uint8Array) || hash.length < 8)
    throw ChangesetError.invalidArgument('hash must have at least 8 bytes');
  return new DataView(hash.buffer, hash.byteOffset, 8).getBigUint64(0, false);
}

function checkEntry(entry: JournalEntry): void {
  assertU64('entry.sequence', entry?.sequence);
  assertBytes('entry.prevHash', entry.prevHash);
  if (entry.prevHash.length !== 32) throw ChangesetError.invalidArgument('entry.prevHash must be 32 bytes');
  assertBytes('entry.payload', entry.payload);
  if (entry.payload.length > 0xffff_ffff) throw ChangesetError.invalidArgument('payload longer than 2^32-1');
}

/** Encoded size of an entry. */
export function encodedEntrySize(entry: JournalEntry): number {
  return ENTRY_HEADER_SIZE + entry.payload.length;
}

/** Writes an entry at `out[offset..]` and returns the offset after it. */
export function writeEntry(out: Uint8Array, offset: number, entry: JournalEntry): number {
  checkEntry(entry);
  const len = entry.payload.length;
  const view = new DataView(out.buffer, out.byteOffset + offset, ENTRY_HEADER_SIZE);
  view.setUint32(4, len, false);
  view.setBigUint64(8, entry.sequence, false);
  out.set(entry.prevHash, offset + 16);
  out.set(entry.payload, offset + ENTRY_HEADER_SIZE);
  const end = offset + ENTRY_HEADER_SIZE + len;
  view.setUint32(0, crc32c(out.subarray(offset + 4, end)), false);
  return end;
}

/**
 * Encodes one entry: `crc32c | payload_len | sequence | prev_hash | payload` (big-endian),
 * the CRC-32C covering everything after the CRC field.
 */
export function encodeEntry(entry: JournalEntry): Uint8Array {
  assertBytes('entry.payload', entry?.payload);
  const out = new Uint8Array(encodedEntrySize(entry));
  writeEntry(out, 0, entry);
  return out;
}

/** A decoded entry and the bytes it occupied. */
export interface DecodedEntry {
  readonly entry: JournalEntry;
  readonly consumed: number;
}

/**
 * Decodes the entry at `data[offset..]`: `TRUNCATED` (needed/available are absolute offsets
 * into `data`, as in Rust) if the fixed part or the payload is cut, `CHECKSUM_MISMATCH`
 * (stored CRC, computed CRC) if the CRC-32C fails. `prevHash` and `payload` are views into
 * `data`. Throws nothing but {@link ChangesetError}.
 */
export function decodeEntry(data: Uint8Array, offset = 0): DecodedEntry {
  if (!(data instanceof Uint8Array)) throw ChangesetError.invalidArgument('data must be a Uint8Array');
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw ChangesetError.invalidArgument('offset must be a non-negative integer');
  const len = data.length;
  if (offset + ENTRY_HEADER_SIZE > len) throw ChangesetError.truncated(offset + ENTRY_HEADER_SIZE, len);
  const view = new DataView(data.buffer, data.byteOffset + offset, ENTRY_HEADER_SIZE);
  const stored = view.getUint32(0, false);
  const payloadLen = view.getUint32(4, false);
  const sequence = view.getBigUint64(8, false);
  const start = offset + ENTRY_HEADER_SIZE;
  const end = start + payloadLen;
  if (end > len) throw ChangesetError.truncated(end, len);
  const computed = crc32c(data.subarray(offset + 4, end));
  if (computed !== stored) throw ChangesetError.checksumMismatch(BigInt(stored), BigInt(computed));
  return {
    entry: { sequence, prevHash: data.subarray(offset + 16, start), payload: data.subarray(start, end) },
    consumed: ENTRY_HEADER_SIZE + payloadLen,
  };
}

/**
 * Links entries: entry i gets `prevHash` = hash of entry i-1 (`startPrevHash` for the first).
 * `payloads` are `[sequence, payload]` pairs; payloads are not copied.
 */
export function buildEntryChain(
  startPrevHash: Uint8Array,
  payloads: Iterable<readonly [sequence: bigint, payload: Uint8Array]>,
): JournalEntry[] {
  assertBytes('startPrevHash', startPrevHash);
  if (startPrevHash.length !== 32) throw ChangesetError.invalidArgument('startPrevHash must be 32 bytes');
  const entries: JournalEntry[] = [];
  let prev = startPrevHash;
  for (const [sequence, payload] of payloads) {
    assertU64('sequence', sequence);
    assertBytes('payload', payload);
    entries.push({ sequence, prevHash: prev, payload });
    prev = entryHash(prev, payload);
  }
  return entries;
}
