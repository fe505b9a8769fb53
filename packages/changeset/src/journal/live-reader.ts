import type { OpOptions } from '@hadb/io';
import { ChunkReader, type ByteSource } from '../byte-source.js';
import { ChangesetError } from '../errors.js';
import { ENTRY_HEADER_SIZE, FLAG_SEALED, HADBJ_HEADER_SIZE } from './constants.js';
import { decodeEntry, entryHash, hashToU64 } from './entry.js';
import { decodeJournalHeader } from './header.js';
import type { JournalEntry, JournalHeader } from './types.js';

/** Options of {@link readLiveJournal}. */
export interface ReadLiveJournalOptions extends OpOptions {
  /**
   * Chain hash the first entry must link to (the previous segment's chain hash). Default: the
   * first entry's own `prev_hash` anchors the chain, as in `decodeJournal`.
   */
  readonly expectedPrevHash?: Uint8Array | undefined;
  /** Entries claiming a larger payload are `HADB_CHANGESET_LIMIT_EXCEEDED` (default 256 MiB). */
  readonly maxPayloadBytes?: number | undefined;
}

/** Where the valid data of a live segment ends; known once iteration has finished. */
export interface LiveJournalEnd {
  /** Byte offset (from the start of the file) just after the last valid entry. Append here. */
  readonly validEnd: number;
  /** True if bytes after `validEnd` held an incomplete or CRC-failing final entry. */
  readonly torn: boolean;
  /** How many bytes follow `validEnd` (0 unless `torn`). */
  readonly tornBytes: number;
  /** Number of valid entries. */
  readonly entryCount: number;
  /** Chain hash after the last valid entry (the starting hash if there were none). */
  readonly chainHash: Uint8Array;
  /** Sequence of the last valid entry, or `null` if there were none. */
  readonly lastSeq: bigint | null;
}

/**
 * A reader of a live (unsealed) `.hadbj` file. Iterate it for the entries (each CRC-checked and
 * chain-checked before it is yielded); then {@link LiveJournalReader.end} tells where valid
 * data ends.
 */
export interface LiveJournalReader extends AsyncIterable<JournalEntry> {
  /** Reads and checks the 128-byte header; a sealed header is `INVALID_FLAGS` (use `decodeJournal`). */
  header(): Promise<JournalHeader>;
  /** Set when the iteration has completed. */
  readonly end: LiveJournalEnd | undefined;
  close(): Promise<void>;
}

/**
 * Streams the entries of a live segment from offset 128 until EOF. Because live files are
 * appended to, a final entry that is cut short — or whose CRC fails with nothing after it — is
 * a torn write, not an error: iteration stops and `end` reports `torn` and `validEnd`. A CRC
 * failure followed by more data, or a broken `prev_hash` link, is an error (`CHECKSUM_MISMATCH`,
 * `CHAIN_BROKEN`). Memory: one entry plus the source's chunks in flight.
 */
export function readLiveJournal(source: ByteSource, options: ReadLiveJournalOptions = {}): LiveJournalReader {
  const maxPayload = options.maxPayloadBytes ?? 256 * 1024 * 1024;
  if (options.expectedPrevHash !== undefined && options.expectedPrevHash.length !== 32) {
    throw ChangesetError.invalidArgument('expectedPrevHash must be 32 bytes');
  }
  const reader = new ChunkReader(source, options.signal);
  let headerPromise: Promise<JournalHeader> | undefined;
  let end: LiveJournalEnd | undefined;
  let iterated = false;

  async function readHeader(): Promise<JournalHeader> {
    await reader.fill(HADBJ_HEADER_SIZE);
    const bytes =
      reader.available >= HADBJ_HEADER_SIZE ? reader.take(HADBJ_HEADER_SIZE) : reader.take(reader.available);
    const header = decodeJournalHeader(bytes);
    if ((header.flags & FLAG_SEALED) !== 0) throw ChangesetError.invalidFlags(header.flags);
    return header;
  }

  function ensureHeader(): Promise<JournalHeader> {
    headerPromise ??= readHeader().catch(async (err: unknown) => {
      await reader.close();
      throw err;
    });
    return headerPromise;
  }

  async function* entries(): AsyncGenerator<JournalEntry> {
    if (iterated) throw ChangesetError.invalidArgument('a LiveJournalReader can be iterated once');
    iterated = true;
    try {
      await ensureHeader();
      let running: Uint8Array | undefined = options.expectedPrevHash;
      let count = 0;
      let lastSeq: bigint | null = null;
      const finish = (validEnd: number, torn: number): void => {
        end = {
          validEnd,
          torn: torn > 0,
          tornBytes: torn,
          entryCount: count,
          chainHash: running ?? new Uint8Array(32),
          lastSeq,
        };
      };
      for (;;) {
        const at = reader.position;
        const have = await reader.fill(ENTRY_HEADER_SIZE);
        if (have === 0) return finish(at, 0);
        if (have < ENTRY_HEADER_SIZE) return finish(at, await reader.drain());
        const head = reader.peek(ENTRY_HEADER_SIZE);
        const payloadLen = new DataView(head.buffer, head.byteOffset + 4, 4).getUint32(0, false);
        if (payloadLen > maxPayload) {
          throw new ChangesetError(
            'HADB_CHANGESET_LIMIT_EXCEEDED',
            `entry at offset ${at} claims ${payloadLen} payload bytes, above the limit of ${maxPayload}`,
          );
        }
        const size = ENTRY_HEADER_SIZE + payloadLen;
        if ((await reader.fill(size)) < size) return finish(at, await reader.drain());
        const bytes = reader.take(size);
        let entry: JournalEntry;
        try {
          entry = decodeEntry(bytes, 0).entry;
        } catch (err) {
          if ((await reader.fill(1)) === 0) return finish(at, size);
          throw err;
        }
        running ??= entry.prevHash;
        if (!equal32(entry.prevHash, running)) {
          throw ChangesetError.chainBroken(hashToU64(running), hashToU64(entry.prevHash));
        }
        running = entryHash(entry.prevHash, entry.payload);
        count++;
        lastSeq = entry.sequence;
        yield entry;
      }
    } finally {
      await reader.close();
    }
  }

  return {
    header: ensureHeader,
    get end() {
      return end;
    },
    close: () => reader.close(),
    [Symbol.asyncIterator]: () => entries(),
  };
}

function equal32(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return false;
  return true;
}
