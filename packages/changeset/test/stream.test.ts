import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  encodePhysical,
  isChangesetError,
  newPhysical,
  PhysicalStreamWriter,
  readPhysicalStream,
  type PageEntry,
} from '../src/index.js';
import { chunked, collect, concat, fill, sameBytes, samePages } from './support/bytes.js';
import { rejection } from '@hadb/testkit';

const pagesOf = (n: number, size: number): PageEntry[] =>
  Array.from({ length: n }, (_, i) => ({ pageId: BigInt(i * 3), data: fill(i & 0xff, size) }));

async function* slowly<T>(items: Iterable<T>): AsyncGenerator<T> {
  for (const item of items) {
    await Promise.resolve();
    yield item;
  }
}

describe('PhysicalStreamWriter', () => {
  it.each([
    [0, 4096],
    [1, 10],
    [50, 4096],
    [3, 300_000],
  ])('%i pages of %i bytes: byte-identical to encodePhysical', async (n, size) => {
    const pages = pagesOf(n, size);
    const cs = newPhysical(9n, 1234n, 8, 300_000, pages, { createdMs: 77n });
    const writer = new PhysicalStreamWriter(
      { seq: 9n, prevChecksum: 1234n, pageIdSize: 8, pageSize: 300_000, pageCount: n, createdMs: 77n },
      slowly(pages),
      { chunkSize: 8192 },
    );
    expect(writer.checksum).toBeUndefined();
    const chunks = await collect(writer);
    expect(sameBytes(concat(chunks), encodePhysical(cs))).toBe(true);
    expect(writer.checksum).toBe(cs.checksum);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(Math.max(8192, size));
  });

  it('rejects a chunkSize below 4096 at construction with HADB_CHANGESET_INVALID_CONFIG (never clamps)', () => {
    const init = { seq: 1n, prevChecksum: 0n, pageIdSize: 8 as const, pageSize: 4096, pageCount: 0 };
    for (const chunkSize of [4095, 0, 8192.5]) {
      expect(() => new PhysicalStreamWriter(init, [], { chunkSize })).toThrow(
        expect.objectContaining({ code: 'HADB_CHANGESET_INVALID_CONFIG' }),
      );
    }
  });

  it('rejects unsorted pages, wrong counts, and ids wider than the declared size', async () => {
    const init = { seq: 1n, prevChecksum: 0n, pageIdSize: 4 as const, pageSize: 4096 };
    const unsorted = [
      { pageId: 2n, data: fill(1, 1) },
      { pageId: 1n, data: fill(1, 1) },
    ];
    expect((await rejection(collect(new PhysicalStreamWriter({ ...init, pageCount: 2 }, unsorted)))).code).toBe(
      'HADB_CHANGESET_INVALID_ARGUMENT',
    );
    expect((await rejection(collect(new PhysicalStreamWriter({ ...init, pageCount: 3 }, pagesOf(2, 1))))).code).toBe(
      'HADB_CHANGESET_INVALID_ARGUMENT',
    );
    expect((await rejection(collect(new PhysicalStreamWriter({ ...init, pageCount: 1 }, pagesOf(2, 1))))).code).toBe(
      'HADB_CHANGESET_INVALID_ARGUMENT',
    );
    const wide = [{ pageId: 1n << 40n, data: fill(1, 1) }];
    expect((await rejection(collect(new PhysicalStreamWriter({ ...init, pageCount: 1 }, wide)))).code).toBe(
      'HADB_CHANGESET_PAGE_ID_MISMATCH',
    );
  });
});

describe('readPhysicalStream', () => {
  const cs = newPhysical(4n, 99n, 8, 4096, pagesOf(20, 4096), { createdMs: 5n });
  const bytes = encodePhysical(cs);

  it.each([[[1]], [[7, 3, 100]], [[4096]], [[1 << 20]]])(
    'decodes chunked input %j like decodePhysical',
    async (sizes) => {
      const reader = readPhysicalStream(chunked(bytes, sizes));
      expect(await reader.header()).toEqual(cs.header);
      const pages = await collect(reader);
      expect(samePages(pages, cs.pages)).toBe(true);
      expect(reader.checksum).toBe(cs.checksum);
    },
  );

  it('reads a Node Readable, and verifies expectedPrev before any page', async () => {
    const pages = await collect(readPhysicalStream(Readable.from(chunked(bytes, [1000])), { expectedPrev: 99n }));
    expect(pages).toHaveLength(20);
    let yielded = 0;
    const err = await rejection(
      (async () => {
        for await (const _ of readPhysicalStream([bytes], { expectedPrev: 1n })) yielded++;
      })(),
    );
    expect(isChangesetError(err, 'HADB_CHANGESET_CHAIN_BROKEN')).toBe(true);
    expect(yielded).toBe(0);
  });

  it('reports success only after the trailer verifies', async () => {
    const bad = bytes.slice();
    bad[bad.length - 1]! ^= 1;
    const reader = readPhysicalStream(chunked(bad, [333]));
    let yielded = 0;
    const err = await rejection(
      (async () => {
        for await (const _ of reader) yielded++;
      })(),
    );
    expect(yielded).toBe(20);
    expect(isChangesetError(err, 'HADB_CHANGESET_CHECKSUM_MISMATCH')).toBe(true);
    expect(err.expected).toBe(cs.checksum ^ 1n);
    expect(err.actual).toBe(cs.checksum);
    expect(reader.checksum).toBeUndefined();
  });

  it('truncation and trailing bytes carry the same numbers as decodePhysical', async () => {
    for (const cut of [0, 10, 47, 48, 60, 4000, bytes.length - 8, bytes.length - 1]) {
      const err = await rejection(collect(readPhysicalStream(chunked(bytes.subarray(0, cut), [100]))));
      expect(isChangesetError(err, 'HADB_CHANGESET_TRUNCATED'), `cut ${cut}`).toBe(true);
      expect(err.available, `cut ${cut}`).toBe(BigInt(cut));
    }
    const longer = concat([bytes, fill(0, 5)]);
    const err = await rejection(collect(readPhysicalStream(chunked(longer, [999]))));
    expect([err.needed, err.available]).toEqual([BigInt(bytes.length), BigInt(bytes.length + 5)]);
  });

  it('rejects non-canonical (descending) page order', async () => {
    const asc = newPhysical(1n, 0n, 4, 4096, [
      { pageId: 1n, data: fill(1, 4) },
      { pageId: 2n, data: fill(2, 4) },
    ]);
    const b = encodePhysical(asc);
    const e1 = b.slice(40, 52);
    b.set(b.slice(52, 64), 40);
    b.set(e1, 52);
    const err = await rejection(collect(readPhysicalStream([b])));
    expect(isChangesetError(err, 'HADB_CHANGESET_NOT_CANONICAL')).toBe(true);
  });

  it('a forged 4 GiB data_len only buffers what actually arrives', async () => {
    const head = encodePhysical(newPhysical(1n, 0n, 4, 0xffff_ffff, [{ pageId: 0n, data: fill(0, 4) }]));
    new DataView(head.buffer).setUint32(44, 0xffff_fff0, false);
    const err = await rejection(collect(readPhysicalStream([head])));
    expect([err.code, err.needed, err.available]).toEqual([
      'HADB_CHANGESET_TRUNCATED',
      48n + 0xffff_fff0n,
      BigInt(head.length),
    ]);
  });

  it('abort stops reading and releases the source', async () => {
    const controller = new AbortController();
    let released = false;
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        for (const c of chunked(bytes, [500])) yield c;
      } finally {
        released = true;
      }
    }
    const reader = readPhysicalStream(source(), { signal: controller.signal });
    const err = await rejection(
      (async () => {
        for await (const _ of reader) controller.abort();
      })(),
    );
    expect(isChangesetError(err, 'HADB_CHANGESET_ABORTED')).toBe(true);
    expect(released).toBe(true);
  });

  it('round-trips writer -> reader with bounded chunks (64 MiB never materialised)', async () => {
    const n = 256;
    const size = 256 * 1024;
    const block = fill(0x3c, size);
    async function* pages(): AsyncGenerator<PageEntry> {
      for (let i = 0; i < n; i++) yield { pageId: BigInt(i), data: block };
    }
    const writer = new PhysicalStreamWriter(
      { seq: 1n, prevChecksum: 0n, pageIdSize: 8, pageSize: size, pageCount: n },
      pages(),
    );
    let count = 0;
    const reader = readPhysicalStream(writer);
    for await (const page of reader) {
      expect(page.data.length).toBe(size);
      count++;
    }
    expect(count).toBe(n);
    expect(reader.checksum).toBe(writer.checksum);
  });
});
