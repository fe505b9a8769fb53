import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  decodePhysical,
  encodePhysical,
  downloadPhysical,
  encodePhysicalChunks,
  formatKey,
  GENERATION_SNAPSHOT,
  isChangesetError,
  newPhysical,
  type PageEntry,
  type PhysicalChangeset,
} from '../src/index.js';
import { ascii, concat, fill, hex, sameBytes } from './support/bytes.js';
import { MemStorageBackend } from '@hadb/storage-mem';
import { withFaults } from '@hadb/testkit/storage';

const page = (id: bigint | number, byte: number, len: number): PageEntry => ({
  pageId: BigInt(id),
  data: fill(byte, len),
});

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (!isChangesetError(err)) throw err;
    return err.code;
  }
}

describe('encodePhysicalChunks', () => {
  it('concatenates to exactly encodePhysical: P1 vector, unsorted input, u32 ids', () => {
    const cs = newPhysical(
      1n,
      0n,
      4,
      4096,
      [
        { pageId: 5n, data: ascii('\xbb\xbb') },
        { pageId: 1n, data: ascii('\xaa\xaa\xaa\xaa') },
      ],
      {
        createdMs: 1700000000000n,
      },
    );
    const chunks = encodePhysicalChunks(cs);
    expect(hex(concat(chunks))).toBe(hex(encodePhysical(cs)));
    // header + id 1 head | data 1 | id 5 head | data 5 | trailer
    expect(chunks.map((c) => c.length)).toEqual([48, 4, 8, 2, 8]);
  });

  it('page data chunks are the caller’s own arrays (no copy), in ascending id order', () => {
    const pages = [page(9, 1, 4096), page(2, 2, 100), page(2, 3, 7), page(0, 4, 262144)];
    const cs = newPhysical(3n, 77n, 8, 262144, pages);
    const chunks = encodePhysicalChunks(cs);
    const dataChunks = chunks.filter((_c, i) => i % 2 === 1);
    const expected = [pages[3], pages[1], pages[2], pages[0]].map((p) => p?.data);
    expect(dataChunks).toHaveLength(expected.length);
    for (const [i, chunk] of dataChunks.entries()) expect(chunk).toBe(expected[i]);
    expect(sameBytes(concat(chunks), encodePhysical(cs))).toBe(true);
    expect(decodePhysical(concat(chunks)).checksum).toBe(cs.checksum);
  });

  it('a hand-built changeset with unsorted pages is written sorted, as encodePhysical does', () => {
    const sorted = newPhysical(1n, 0n, 8, 64, [page(1, 1, 3), page(4, 2, 5)]);
    const unsorted: PhysicalChangeset = { ...sorted, pages: [...sorted.pages].reverse() };
    expect(hex(concat(encodePhysicalChunks(unsorted)))).toBe(hex(encodePhysical(sorted)));
  });

  it('empty pages add no chunk and an empty changeset is one chunk', () => {
    const cs = newPhysical(1n, 0n, 8, 64, [page(1, 0, 0), page(2, 5, 3), page(3, 0, 0), page(4, 0, 0)]);
    const chunks = encodePhysicalChunks(cs);
    expect(chunks.map((c) => c.length)).toEqual([40 + 12 + 12, 3, 12 + 12 + 8]);
    expect(sameBytes(concat(chunks), encodePhysical(cs))).toBe(true);
    const empty = newPhysical(7n, 0n, 4, 4096, [], { createdMs: 0n });
    expect(encodePhysicalChunks(empty)).toHaveLength(1);
    expect(hex(concat(encodePhysicalChunks(empty)))).toBe(hex(encodePhysical(empty)));
  });

  it('rejects what encodePhysical rejects, with the same codes', () => {
    const cs = newPhysical(1n, 0n, 4, 64, [page(1, 1, 3)]);
    const cases: PhysicalChangeset[] = [
      { ...cs, header: { ...cs.header, pageCount: 2 } },
      { ...cs, pages: [{ pageId: 1n << 32n, data: fill(1, 3) }] },
      { ...cs, checksum: -1n },
      { ...cs, header: { ...cs.header, flags: 256 } },
    ];
    for (const bad of cases) {
      const code = codeOf(() => encodePhysicalChunks(bad));
      expect(code).not.toBe('ok');
      expect(code).toBe(codeOf(() => encodePhysical(bad)));
    }
  });

  it('filehandle.writev of more than IOV_MAX chunks writes the exact encoding to a real file', async () => {
    const pages = Array.from({ length: 3000 }, (_v, i) => page(i, i & 0xff, 1 + (i % 700)));
    const cs = newPhysical(5n, 123n, 8, 4096, pages);
    const chunks = encodePhysicalChunks(cs);
    expect(chunks.length).toBeGreaterThan(1024);
    const dir = await mkdtemp(join(tmpdir(), 'hadb-chunks-'));
    try {
      const path = join(dir, 'cs.hadbp');
      const fh = await open(path, 'w');
      try {
        const { bytesWritten } = await fh.writev(chunks);
        expect(bytesWritten).toBe(chunks.reduce((n, c) => n + c.length, 0));
      } finally {
        await fh.close();
      }
      const onDisk = await readFile(path);
      expect(sameBytes(onDisk, encodePhysical(cs))).toBe(true);
      expect(decodePhysical(onDisk).checksum).toBe(cs.checksum);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('Readable.from(chunks) streams through putStream to an object that downloads and verifies', async () => {
    const storage = memStore();
    const cs = newPhysical(2n, 9n, 8, 4096, [page(3, 7, 4096), page(1, 8, 10)]);
    const key = formatKey('wal/', 'db', GENERATION_SNAPSHOT, cs.header.seq, 'hadbp');
    await storage.putStream(key, Readable.from(encodePhysicalChunks(cs)));
    const back = await downloadPhysical(storage, key);
    expect(back.checksum).toBe(cs.checksum);
    expect(back.pages.map((p) => p.pageId)).toEqual([1n, 3n]);
  });
});

/** A real in-memory backend whose listing quirks a test can switch on (`setFaults`). */
function memStore() {
  return withFaults(new MemStorageBackend(), { seed: 1 });
}
