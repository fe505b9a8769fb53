import type { OpOptions } from '@hadb/io';
import { ChunkReader, type ByteSource } from './byte-source.js';
import { ChangesetError } from './errors.js';
import { HashBatch, digestToU64 } from './hash-batch.js';
import { HADBP_HEADER_SIZE, HADBP_MIN_SIZE, HADBP_TRAILER_SIZE, readPhysicalHeader } from './physical.js';
import type { PageEntry, PhysicalHeader } from './types.js';
import { assertU64 } from './validate.js';

/** Options of {@link readPhysicalStream}. */
export interface ReadPhysicalStreamOptions extends OpOptions {
  /**
   * If set, the header's `prev_checksum` must equal it (`CHAIN_BROKEN`, checked before any page
   * is read), which makes a successful read equivalent to `decodePhysical` + `verifyChain`.
   */
  readonly expectedPrev?: bigint | undefined;
}

/**
 * A `.hadbp` decoder over a byte stream. Iterate it to receive the pages one by one; the
 * iteration completes normally only after the trailer checksum has been verified, so treat the
 * pages as provisional until then (e.g. write them to a temporary file and publish it only
 * after the loop ends). Memory: one page plus the source's chunks in flight.
 */
export interface PhysicalStreamReader extends AsyncIterable<PageEntry> {
  /** Reads and checks the header (idempotent). Same errors and order as `decodePhysical`. */
  header(): Promise<PhysicalHeader>;
  /** The verified checksum once the iteration has completed, else `undefined`. */
  readonly checksum: bigint | undefined;
  /** Releases the source without finishing. */
  close(): Promise<void>;
}

/**
 * Streaming counterpart of `decodePhysical`: same checks, same error codes and numbers
 * (`available` is the total stream length, found by reading to the end), for any size.
 *
 * One difference: pages must be stored in ascending id order (as every encoder writes them);
 * a decreasing id is `HADB_CHANGESET_NOT_CANONICAL`, since verifying an unsorted body would
 * require buffering all of it.
 */
export function readPhysicalStream(source: ByteSource, options: ReadPhysicalStreamOptions = {}): PhysicalStreamReader {
  if (options.expectedPrev !== undefined) assertU64('expectedPrev', options.expectedPrev);
  const reader = new ChunkReader(source, options.signal);
  let headerPromise: Promise<PhysicalHeader> | undefined;
  let checksum: bigint | undefined;
  let iterated = false;

  async function failAt(needed: number): Promise<never> {
    const total = reader.position + (await reader.drain());
    throw ChangesetError.truncated(needed, total);
  }

  async function readHeader(): Promise<PhysicalHeader> {
    if ((await reader.fill(HADBP_MIN_SIZE)) < HADBP_MIN_SIZE) {
      throw ChangesetError.truncated(HADBP_MIN_SIZE, reader.available);
    }
    return readPhysicalHeader(reader.take(HADBP_HEADER_SIZE), options.expectedPrev);
  }

  function ensureHeader(): Promise<PhysicalHeader> {
    headerPromise ??= readHeader().catch(async (err: unknown) => {
      await reader.close();
      throw err;
    });
    return headerPromise;
  }

  async function* pages(): AsyncGenerator<PageEntry> {
    if (iterated) throw ChangesetError.invalidArgument('a PhysicalStreamReader can be iterated once');
    iterated = true;
    try {
      const h = await ensureHeader();
      const width = h.pageIdSize;
      const batch = new HashBatch();
      batch.addU64(h.prevChecksum);
      let last = -1n;
      for (let i = 0; i < h.pageCount; i++) {
        const pos = reader.position;
        const entryHead = reader.available >= width + 4 ? reader.take(width + 4) : await reader.read(width + 4);
        if (entryHead === null) return await failAt(pos + width + 4);
        batch.add(entryHead);
        const view = new DataView(entryHead.buffer, entryHead.byteOffset, width + 4);
        const pageId = width === 8 ? view.getBigUint64(0, false) : BigInt(view.getUint32(0, false));
        const dataLen = view.getUint32(width, false);
        if (dataLen > h.pageSize) throw ChangesetError.pageTooLarge(dataLen, h.pageSize);
        if (pageId < last) {
          throw new ChangesetError(
            'HADB_CHANGESET_NOT_CANONICAL',
            `page ${i} has id ${pageId} after id ${last}: streaming decode needs ascending page ids`,
          );
        }
        last = pageId;
        const data = reader.available >= dataLen ? reader.take(dataLen) : await reader.read(dataLen);
        if (data === null) return await failAt(pos + width + 4 + dataLen);
        batch.add(data);
        yield { pageId, data };
      }
      const pos = reader.position;
      const trailer = await reader.read(HADBP_TRAILER_SIZE);
      if (trailer === null) return await failAt(pos + HADBP_TRAILER_SIZE);
      const stored = new DataView(trailer.buffer, trailer.byteOffset, 8).getBigUint64(0, false);
      const end = reader.position;
      const extra = await reader.drain();
      if (extra > 0) throw ChangesetError.truncated(end, end + extra);
      const computed = digestToU64(batch.digest());
      if (computed !== stored) throw ChangesetError.checksumMismatch(stored, computed);
      checksum = stored;
    } finally {
      await reader.close();
    }
  }

  return {
    header: ensureHeader,
    get checksum() {
      return checksum;
    },
    close: () => reader.close(),
    [Symbol.asyncIterator]: () => pages(),
  };
}
