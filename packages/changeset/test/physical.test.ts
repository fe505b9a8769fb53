import { describe, expect, it } from 'vitest';
import {
  type ChangesetError,
  computeChecksum,
  decodePhysical,
  encodePhysical,
  newPhysical,
  verifyChain,
  type PageEntry,
  type PhysicalChangeset,
} from '../src/index.js';
import { fill } from './support/bytes.js';
import { thrown } from '@hadb/testkit';

// TypeScript counterparts of hadb-changeset/src/physical.rs tests (spec §1.13).
const HEADER_SIZE = 40;
const page = (id: bigint | number, byte: number, len: number): PageEntry => ({
  pageId: BigInt(id),
  data: fill(byte, len),
});
const u64cs = (): PhysicalChangeset => newPhysical(1n, 0n, 8, 262144, [page(0, 0xaa, 64)]);

describe('physical: happy path', () => {
  it('roundtrip u32', () => {
    const cs = newPhysical(1n, 0n, 4, 4096, [page(1, 0xaa, 256), page(2, 0xbb, 512), page(5, 0xcc, 128)]);
    const decoded = decodePhysical(encodePhysical(cs));
    expect(decoded).toEqual(cs);
    expect(decoded.header.pageIdSize).toBe(4);
  });

  it('roundtrip u64', () => {
    const cs = newPhysical(1n, 0n, 8, 262144, [page(0, 0xaa, 256), page(1, 0xbb, 512), page(5, 0xcc, 128)]);
    const decoded = decodePhysical(encodePhysical(cs));
    expect(decoded).toEqual(cs);
    expect(decoded.header.pageIdSize).toBe(8);
  });

  it('single page', () => {
    const decoded = decodePhysical(encodePhysical(newPhysical(42n, 12345n, 4, 4096, [page(7, 0xff, 100)])));
    expect(decoded.header.seq).toBe(42n);
    expect(decoded.header.prevChecksum).toBe(12345n);
    expect(decoded.pages).toHaveLength(1);
    expect(decoded.pages[0]?.pageId).toBe(7n);
  });

  it('checksum chain valid', () => {
    verifyChain(0n, newPhysical(1n, 0n, 8, 262144, [page(0, 0xaa, 64)]));
  });

  it('sequential chain', () => {
    const cs1 = newPhysical(1n, 0n, 8, 262144, [page(0, 0xaa, 64)]);
    verifyChain(0n, cs1);
    const cs2 = newPhysical(2n, cs1.checksum, 8, 262144, [page(1, 0xbb, 64)]);
    verifyChain(cs1.checksum, cs2);
  });

  it('three changeset chain', () => {
    const cs1 = newPhysical(1n, 0n, 4, 4096, [page(1, 0x11, 32)]);
    const cs2 = newPhysical(2n, cs1.checksum, 4, 4096, [page(2, 0x22, 32), page(3, 0x33, 32)]);
    const cs3 = newPhysical(3n, cs2.checksum, 4, 4096, [page(1, 0x44, 32)]);
    verifyChain(0n, cs1);
    verifyChain(cs1.checksum, cs2);
    verifyChain(cs2.checksum, cs3);
  });

  it('page_id_size preserved', () => {
    expect(decodePhysical(encodePhysical(newPhysical(1n, 0n, 4, 4096, [page(1, 0xaa, 32)]))).header.pageIdSize).toBe(4);
    expect(decodePhysical(encodePhysical(newPhysical(1n, 0n, 8, 262144, [page(1, 0xaa, 32)]))).header.pageIdSize).toBe(
      8,
    );
  });
});

describe('physical: negative', () => {
  it('bad magic', () => {
    const bytes = encodePhysical(u64cs());
    bytes[0] = 'X'.charCodeAt(0);
    const err = thrown<ChangesetError>(() => decodePhysical(bytes));
    expect(err.code).toBe('HADB_CHANGESET_INVALID_MAGIC');
    expect(err.message).toBe('invalid magic bytes');
  });

  it('bad version (byte 5 = 99)', () => {
    const bytes = encodePhysical(u64cs());
    bytes[5] = 99;
    const err = thrown<ChangesetError>(() => decodePhysical(bytes));
    expect(err.code).toBe('HADB_CHANGESET_UNSUPPORTED_VERSION');
    expect(err.version).toBe(99);
    expect(err.message).toBe('unsupported version: 99');
  });

  it('checksum mismatch (first data byte flipped)', () => {
    const cs = u64cs();
    const bytes = encodePhysical(cs);
    bytes[HEADER_SIZE + 8 + 4]! ^= 0xff;
    const err = thrown<ChangesetError>(() => decodePhysical(bytes));
    expect(err.code).toBe('HADB_CHANGESET_CHECKSUM_MISMATCH');
    expect(err.expected).toBe(cs.checksum);
    expect(err.actual).not.toBe(cs.checksum);
    expect(err.message).toMatch(/^checksum mismatch: expected 0x[0-9a-f]{16}, got 0x[0-9a-f]{16}$/);
  });

  it('truncated header (10 zero bytes)', () => {
    const err = thrown<ChangesetError>(() => decodePhysical(new Uint8Array(10)));
    expect(err.code).toBe('HADB_CHANGESET_TRUNCATED');
    expect([err.needed, err.available]).toEqual([48n, 10n]);
    expect(err.message).toBe('size mismatch: expected 48 bytes, have 10');
  });

  it('truncated page data (40 + 5 bytes)', () => {
    const bytes = encodePhysical(u64cs());
    // Rust's first check is len < 48, so a 45-byte prefix is Truncated { needed: 48 }.
    const err = thrown<ChangesetError>(() => decodePhysical(bytes.subarray(0, HEADER_SIZE + 5)));
    expect(err.code).toBe('HADB_CHANGESET_TRUNCATED');
    expect([err.needed, err.available]).toEqual([48n, 45n]);
    // A longer cut lands inside the page data: needed = 40 + 12 + 64.
    const err2 = thrown<ChangesetError>(() => decodePhysical(bytes.subarray(0, HEADER_SIZE + 30)));
    expect([err2.needed, err2.available]).toEqual([116n, 70n]);
  });

  it('chain broken (expected 999)', () => {
    const cs = u64cs();
    const err = thrown<ChangesetError>(() => verifyChain(999n, cs));
    expect(err.code).toBe('HADB_CHANGESET_CHAIN_BROKEN');
    expect([err.expected, err.changesetPrev]).toEqual([999n, 0n]);
    expect(err.message).toBe(
      'chain broken: changeset prev_checksum 0x0000000000000000 does not match expected 0x00000000000003e7',
    );
  });

  it('invalid page_id_size (byte 7 = 3)', () => {
    const bytes = encodePhysical(u64cs());
    bytes[7] = 3;
    const err = thrown<ChangesetError>(() => decodePhysical(bytes));
    expect(err.code).toBe('HADB_CHANGESET_INVALID_PAGE_ID_SIZE');
    expect(err.pageIdSize).toBe(3);
    expect(err.message).toBe('invalid page_id_size: 3 (expected 4 or 8)');
  });

  it('page too large (data_len = 262145)', () => {
    const bytes = encodePhysical(u64cs());
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(HEADER_SIZE + 8, 262145, false);
    const err = thrown<ChangesetError>(() => decodePhysical(bytes));
    expect(err.code).toBe('HADB_CHANGESET_PAGE_TOO_LARGE');
    expect([err.dataLen, err.pageSize]).toEqual([262145, 262144]);
    expect(err.message).toBe('page data length 262145 exceeds page size 262144');
  });

  it('trailing bytes', () => {
    const bytes = encodePhysical(u64cs());
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    longer[bytes.length] = 0xff;
    const err = thrown<ChangesetError>(() => decodePhysical(longer));
    expect(err.code).toBe('HADB_CHANGESET_TRUNCATED');
    expect([err.needed, err.available]).toEqual([BigInt(bytes.length), BigInt(bytes.length + 1)]);
  });
});

describe('physical: edge cases', () => {
  it('empty changeset', () => {
    const decoded = decodePhysical(encodePhysical(newPhysical(1n, 0n, 4, 4096, [])));
    expect(decoded.pages).toHaveLength(0);
    verifyChain(0n, decoded);
  });

  it('large changeset (1000 pages)', () => {
    const pages = Array.from({ length: 1000 }, (_, i) => page(i, i % 256, 64));
    const decoded = decodePhysical(encodePhysical(newPhysical(1n, 0n, 8, 262144, pages)));
    expect(decoded.pages).toHaveLength(1000);
    verifyChain(0n, decoded);
  });

  it('partial page', () => {
    expect(
      decodePhysical(encodePhysical(newPhysical(1n, 0n, 4, 4096, [page(1, 0xaa, 1024)]))).pages[0]?.data.length,
    ).toBe(1024);
  });

  it('full-size page u32 (4096) and u64 (262144)', () => {
    expect(
      decodePhysical(encodePhysical(newPhysical(1n, 0n, 4, 4096, [page(1, 0xaa, 4096)]))).pages[0]?.data.length,
    ).toBe(4096);
    expect(
      decodePhysical(encodePhysical(newPhysical(1n, 0n, 8, 262144, [page(0, 0xbb, 262144)]))).pages[0]?.data.length,
    ).toBe(262144);
  });

  it('page ordering determinism', () => {
    const asc = newPhysical(1n, 0n, 8, 262144, [page(0, 0xaa, 32), page(1, 0xbb, 32)], { createdMs: 5n });
    const desc = newPhysical(1n, 0n, 8, 262144, [page(1, 0xbb, 32), page(0, 0xaa, 32)], { createdMs: 5n });
    expect(encodePhysical(asc)).toEqual(encodePhysical(desc));
  });

  it('duplicate page ids are kept', () => {
    const cs = newPhysical(1n, 0n, 8, 262144, [page(0, 0xaa, 32), page(0, 0xbb, 32)]);
    expect(cs.pages).toHaveLength(2);
    const decoded = decodePhysical(encodePhysical(cs));
    expect(decoded.pages).toHaveLength(2);
    verifyChain(0n, decoded);
  });

  it('zero-length page data', () => {
    const decoded = decodePhysical(
      encodePhysical(newPhysical(1n, 0n, 4, 4096, [{ pageId: 1n, data: new Uint8Array(0) }])),
    );
    expect(decoded.pages[0]?.data.length).toBe(0);
    verifyChain(0n, decoded);
  });

  it('unsorted pages sorted on new', () => {
    const cs = newPhysical(1n, 0n, 8, 262144, [page(5, 0xcc, 32), page(0, 0xaa, 32), page(3, 0xbb, 32)]);
    expect(cs.pages.map((p) => p.pageId)).toEqual([0n, 3n, 5n]);
    expect(decodePhysical(encodePhysical(cs))).toEqual(cs);
  });

  it('different data / prev / width give different checksums', () => {
    expect(computeChecksum(0n, 8, [page(0, 0xaa, 32)])).not.toBe(computeChecksum(0n, 8, [page(0, 0xbb, 32)]));
    expect(computeChecksum(0n, 8, [page(0, 0xaa, 32)])).not.toBe(computeChecksum(1n, 8, [page(0, 0xaa, 32)]));
    expect(computeChecksum(0n, 4, [page(1, 0xaa, 32)])).not.toBe(computeChecksum(0n, 8, [page(1, 0xaa, 32)]));
  });

  it('u32::MAX and u64::MAX page ids', () => {
    const a = decodePhysical(encodePhysical(newPhysical(1n, 0n, 4, 4096, [page(0xffff_ffff, 0xaa, 16)])));
    expect(a.pages[0]?.pageId).toBe(0xffff_ffffn);
    const b = decodePhysical(encodePhysical(newPhysical(1n, 0n, 8, 262144, [page((1n << 64n) - 1n, 0xbb, 16)])));
    expect(b.pages[0]?.pageId).toBe((1n << 64n) - 1n);
  });

  it('page_size preserved (8192)', () => {
    expect(decodePhysical(encodePhysical(newPhysical(1n, 0n, 4, 8192, [page(1, 0xaa, 32)]))).header.pageSize).toBe(
      8192,
    );
  });

  it('mixed id widths: a 64-bit id in a U32 changeset throws like the Rust panic', () => {
    const err = thrown<ChangesetError>(() =>
      newPhysical(1n, 0n, 4, 4096, [page(1, 0xaa, 32), page(1n << 32n, 0xbb, 32)]),
    );
    expect(err.code).toBe('HADB_CHANGESET_PAGE_ID_MISMATCH');
    expect(err.message).toBe('page_id variant mismatch: declared U32 but got U64(4294967296)');
  });

  it('flags roundtrip (0x03)', () => {
    const cs = u64cs();
    const decoded = decodePhysical(encodePhysical({ ...cs, header: { ...cs.header, flags: 0x03 } }));
    expect(decoded.header.flags).toBe(0x03);
  });

  it('timestamp set by new and preserved', () => {
    const before = BigInt(Date.now());
    const cs = u64cs();
    expect(cs.header.createdMs >= before).toBe(true);
    expect(decodePhysical(encodePhysical(cs)).header.createdMs).toBe(cs.header.createdMs);
  });

  it('decode of unsorted stored pages checksums in sorted order (as Rust)', () => {
    const cs = newPhysical(1n, 0n, 4, 4096, [page(1, 0x11, 4), page(2, 0x22, 4)]);
    const bytes = encodePhysical(cs);
    // Swap the two 12-byte entries by hand: the stored order becomes 2, 1.
    const e1 = bytes.slice(40, 52);
    const e2 = bytes.slice(52, 64);
    bytes.set(e2, 40);
    bytes.set(e1, 52);
    const decoded = decodePhysical(bytes);
    expect(decoded.pages.map((p) => p.pageId)).toEqual([2n, 1n]);
    expect(decoded.checksum).toBe(cs.checksum);
  });

  it('encode rejects a header whose pageCount does not match', () => {
    const cs = u64cs();
    expect(thrown<ChangesetError>(() => encodePhysical({ ...cs, header: { ...cs.header, pageCount: 2 } })).code).toBe(
      'HADB_CHANGESET_INVALID_ARGUMENT',
    );
  });

  it('a 60-byte input claiming 2^32-1 pages fails fast without allocating', () => {
    const bytes = new Uint8Array(60);
    bytes.set(encodePhysical(newPhysical(1n, 0n, 4, 4096, [], { createdMs: 0n })).subarray(0, 40));
    new DataView(bytes.buffer).setUint32(28, 0xffff_ffff, false);
    new DataView(bytes.buffer).setUint32(44, 0xffff_ffff, false); // data_len of page 0
    new DataView(bytes.buffer).setUint32(8, 0xffff_ffff, false); // page_size
    const start = performance.now();
    const err = thrown<ChangesetError>(() => decodePhysical(bytes));
    expect(performance.now() - start).toBeLessThan(50);
    expect(err.code).toBe('HADB_CHANGESET_TRUNCATED');
    expect([err.needed, err.available]).toEqual([48n + 0xffff_ffffn, 60n]);
  });
});
