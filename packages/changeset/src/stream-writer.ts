import { systemClock, throwIfAborted, type OpOptions, configChecker } from '@hadb/io';
import { ChangesetError, changesetAborted, changesetInvalidConfig } from './errors.js';
import { HashBatch, digestToU64 } from './hash-batch.js';
import { HADBP_HEADER_SIZE, writePhysicalHeader } from './physical.js';
import type { PageEntry, PageIdSize, PhysicalHeader } from './types.js';
import {
  assertBytes,
  assertI64,
  assertPageIdFits,
  assertPageIdSize,
  assertU32,
  assertU64,
  assertU8,
} from './validate.js';

/** Header fields of a streamed changeset. `pageCount` must be known up front: it precedes the pages. */
export interface PhysicalStreamInit {
  readonly seq: bigint;
  readonly prevChecksum: bigint;
  readonly pageIdSize: PageIdSize;
  readonly pageSize: number;
  /** Exactly how many pages the source will yield. */
  readonly pageCount: number;
  /** Default 0. */
  readonly flags?: number | undefined;
  /** Default: the wall clock (`systemClock.wallMs()` of `@hadb/io`); pass it from your own `Clock` to control it. */
  readonly createdMs?: bigint | undefined;
}

/** Options of {@link PhysicalStreamWriter}. */
export interface PhysicalStreamWriterOptions extends OpOptions {
  /** Small entries are gathered into chunks of about this size (default 256 KiB). */
  readonly chunkSize?: number | undefined;
}

/**
 * Encodes a `.hadbp` changeset to a stream of chunks while the pages are produced, so a
 * multi-GiB snapshot never sits in memory. Output is byte-identical to `encodePhysical` of the
 * same pages. Pages must arrive in ascending id order (duplicates allowed, kept in arrival
 * order) and number exactly `pageCount`; otherwise iteration throws `INVALID_ARGUMENT` and the
 * output must be discarded. The checksum is computed on the fly and written last.
 *
 * Iterate once (e.g. pass it to `StorageBackend.putStream` or `stream.Readable.from`). Large
 * page data is yielded as-is, without a copy: do not modify it while the stream is consumed.
 */
export class PhysicalStreamWriter implements AsyncIterable<Uint8Array> {
  /** The header that is written first. */
  readonly header: PhysicalHeader;
  #result: bigint | undefined;
  #started = false;

  readonly #pages: AsyncIterable<PageEntry> | Iterable<PageEntry>;
  readonly #options: PhysicalStreamWriterOptions;
  readonly #chunkSize: number;

  constructor(
    init: PhysicalStreamInit,
    pages: AsyncIterable<PageEntry> | Iterable<PageEntry>,
    options: PhysicalStreamWriterOptions = {},
  ) {
    this.#pages = pages;
    this.#options = options;
    this.#chunkSize = configChecker(changesetInvalidConfig).int('chunkSize', options.chunkSize, {
      min: 4096,
      default: 256 * 1024,
    });
    const createdMs = init.createdMs ?? BigInt(systemClock.wallMs());
    this.header = {
      flags: assertU8('flags', init.flags ?? 0),
      pageIdSize: assertPageIdSize(init.pageIdSize),
      pageSize: assertU32('pageSize', init.pageSize),
      seq: assertU64('seq', init.seq),
      prevChecksum: assertU64('prevChecksum', init.prevChecksum),
      pageCount: assertU32('pageCount', init.pageCount),
      createdMs: assertI64('createdMs', createdMs),
    };
  }

  /** The checksum (the next changeset's `prevChecksum`) once the stream has been fully produced. */
  get checksum(): bigint | undefined {
    return this.#result;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    if (this.#started) throw ChangesetError.invalidArgument('a PhysicalStreamWriter can be iterated once');
    this.#started = true;
    const { signal } = this.#options;
    const chunkSize = this.#chunkSize;
    const { header } = this;
    const width = header.pageIdSize;
    const batch = new HashBatch();
    batch.addU64(header.prevChecksum);

    let buf = new Uint8Array(chunkSize);
    let used = 0;
    const flush = function* (): Generator<Uint8Array> {
      if (used > 0) {
        yield buf.subarray(0, used);
        buf = new Uint8Array(chunkSize);
        used = 0;
      }
    };

    writePhysicalHeader(buf, header);
    used = HADBP_HEADER_SIZE;
    let count = 0;
    let last = -1n;
    throwIfAborted(signal, changesetAborted);
    for await (const page of this.#pages) {
      throwIfAborted(signal, changesetAborted);
      const pageId = assertPageIdFits(width, page?.pageId);
      const data = assertBytes('page data', page.data);
      if (count >= header.pageCount) {
        throw ChangesetError.invalidArgument(`more pages than the declared pageCount ${header.pageCount}`);
      }
      if (pageId < last) {
        throw ChangesetError.invalidArgument(
          `page id ${pageId} after ${last}: pages must arrive in ascending id order`,
        );
      }
      last = pageId;
      count++;
      if (used + width + 4 > chunkSize) yield* flush();
      const view = new DataView(buf.buffer, buf.byteOffset + used, width + 4);
      if (width === 8) view.setBigUint64(0, pageId, false);
      else view.setUint32(0, Number(pageId), false);
      view.setUint32(width, data.length, false);
      batch.add(buf.subarray(used, used + width + 4));
      used += width + 4;
      batch.add(data);
      if (data.length >= chunkSize / 2) {
        yield* flush();
        yield data;
      } else {
        if (used + data.length > chunkSize) yield* flush();
        buf.set(data, used);
        used += data.length;
      }
    }
    if (count !== header.pageCount) {
      throw ChangesetError.invalidArgument(`source yielded ${count} pages, header declared ${header.pageCount}`);
    }
    const checksum = digestToU64(batch.digest());
    if (used + 8 > chunkSize) yield* flush();
    new DataView(buf.buffer, buf.byteOffset + used, 8).setBigUint64(0, checksum, false);
    used += 8;
    yield* flush();
    this.#result = checksum;
  }
}
