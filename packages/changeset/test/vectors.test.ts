import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  computeChecksum,
  crc32c,
  decodeEntry,
  decodeJournal,
  decodeJournalHeader,
  decodePhysical,
  encodeEntry,
  encodeJournal,
  encodeJournalCompressed,
  encodePhysical,
  encodeUnsealedHeader,
  entryHash,
  newPhysical,
  sealJournal,
  verifyChain,
  ZERO_HASH,
  buildEntryChain,
  type PhysicalChangeset,
} from '../src/index.js';
import { ascii, hex, unhex } from './support/bytes.js';

// Spec §1.12 / §2.10: produced by the upstream Rust code, cross-checked independently.
const P1_HEX =
  '48414442500100040000100000000000000000010000000000000000000000020000018bcfe568000000000100000004aaaaaaaa0000000500000002bbbbc68ec87bd37a2ece';
const P3_HEX = '48414442500100040000100000000000000000070000000000000000000000000000000000000000af5570f5a1810b7a';

function p1(): PhysicalChangeset {
  return newPhysical(
    1n,
    0n,
    4,
    4096,
    [
      { pageId: 5n, data: unhex('bbbb') },
      { pageId: 1n, data: unhex('aaaaaaaa') },
    ],
    { createdMs: 1700000000000n },
  );
}

describe('.hadbp vectors (spec §1.12)', () => {
  it('P1: U32, two pages given unsorted, encodes byte for byte', () => {
    const cs = p1();
    expect(cs.checksum).toBe(0xc68ec87bd37a2ecen);
    expect(cs.pages.map((p) => p.pageId)).toEqual([1n, 5n]);
    const bytes = encodePhysical(cs);
    expect(bytes.length).toBe(70);
    expect(hex(bytes)).toBe(P1_HEX);
    const decoded = decodePhysical(unhex(P1_HEX));
    expect(decoded.header).toEqual(cs.header);
    expect(decoded.checksum).toBe(0xc68ec87bd37a2ecen);
    expect(decoded.pages.map((p) => [p.pageId, hex(p.data)])).toEqual([
      [1n, 'aaaaaaaa'],
      [5n, 'bbbb'],
    ]);
  });

  it('P3: empty changeset, checksum is SHA-256(be64(0))[0..8]', () => {
    const cs = newPhysical(7n, 0n, 4, 4096, [], { createdMs: 0n });
    expect(cs.checksum).toBe(0xaf5570f5a1810b7an);
    expect(hex(encodePhysical(cs))).toBe(P3_HEX);
    const sha = createHash('sha256').update(new Uint8Array(8)).digest();
    expect(sha.readBigUInt64BE(0)).toBe(0xaf5570f5a1810b7an);
    expect(decodePhysical(unhex(P3_HEX)).pages).toEqual([]);
  });

  it('P4/P4b: duplicate ids keep insertion order; swapping them changes the checksum', () => {
    const a = { pageId: 3n, data: ascii('first') };
    const b = { pageId: 3n, data: ascii('second') };
    const p4 = newPhysical(1n, 0n, 4, 4096, [{ pageId: 9n, data: ascii('z') }, a, b], { createdMs: 0n });
    const p4b = newPhysical(1n, 0n, 4, 4096, [{ pageId: 9n, data: ascii('z') }, b, a], { createdMs: 0n });
    expect(p4.pages.map((p) => Buffer.from(p.data).toString())).toEqual(['first', 'second', 'z']);
    expect(p4b.pages.map((p) => Buffer.from(p.data).toString())).toEqual(['second', 'first', 'z']);
    expect(p4.checksum).not.toBe(p4b.checksum);
    // The checksum is SHA-256 over prev || entries in stored order, independently recomputed:
    const manual = createHash('sha256')
      .update(new Uint8Array(8))
      .update(unhex('00000003 00000005'))
      .update(ascii('first'))
      .update(unhex('00000003 00000006'))
      .update(ascii('second'))
      .update(unhex('00000009 00000001'))
      .update(ascii('z'))
      .digest()
      .readBigUInt64BE(0);
    expect(p4.checksum).toBe(manual);
    expect(decodePhysical(encodePhysical(p4)).checksum).toBe(p4.checksum);
    expect(decodePhysical(encodePhysical(p4b)).checksum).toBe(p4b.checksum);
  });

  it('P2: U64 (DuckDB-style) changeset chained from P1, checked against an independent SHA-256', () => {
    const first = p1();
    const page0 = new Uint8Array(262144).fill(0x5a);
    const p2 = newPhysical(
      2n,
      first.checksum,
      8,
      262144,
      [
        { pageId: 0xffff_ffff_01n, data: ascii('hi') },
        { pageId: 0n, data: page0 },
      ],
      { createdMs: 1700000000001n },
    );
    const manual = createHash('sha256')
      .update(unhex('c68ec87bd37a2ece'))
      .update(unhex('0000000000000000 00040000'))
      .update(page0)
      .update(unhex('000000ffffffff01 00000002'))
      .update(ascii('hi'))
      .digest()
      .readBigUInt64BE(0);
    expect(p2.checksum).toBe(manual);
    const bytes = encodePhysical(p2);
    expect(bytes.length).toBe(40 + (8 + 4 + 262144) + (8 + 4 + 2) + 8);
    expect(hex(bytes.subarray(0, 40))).toBe(
      '4841444250010008' + '00040000' + '0000000000000002' + 'c68ec87bd37a2ece' + '00000002' + '0000018bcfe56801',
    );
    const decoded = decodePhysical(bytes);
    verifyChain(first.checksum, decoded);
    expect(() => verifyChain(0n, decoded)).toThrowError(/chain broken/);
    expect(computeChecksum(first.checksum, 8, decoded.pages)).toBe(p2.checksum);
  });
});

describe('.hadbj vectors (spec §2.10)', () => {
  const E1 = '0e1054e2' + '00000007' + '0000000000000001' + '00'.repeat(32) + '71756572795f31';
  const H1 = 'bea52bdef4f3e8a027bdf2102c115c3dc88a8ceb9fb1dd5155ad98025895df77';
  const E2 =
    '05f1c12c000000070000000000000002bea52bdef4f3e8a027bdf2102c115c3dc88a8ceb9fb1dd5155ad98025895df7771756572795f32';
  const H2 = '11d6af76ae99f98a83b33f8d96293170960366ec15bdd76b52121ac487e7f500';

  it('CRC-32C check value', () => {
    expect(crc32c(ascii('123456789')).toString(16)).toBe('e3069283');
  });

  it('entries 1 and 2 encode byte for byte and chain', () => {
    const [e1, e2] = buildEntryChain(ZERO_HASH, [
      [1n, ascii('query_1')],
      [2n, ascii('query_2')],
    ]);
    expect(hex(encodeEntry(e1!))).toBe(E1);
    expect(hex(entryHash(ZERO_HASH, ascii('query_1')))).toBe(H1);
    expect(hex(encodeEntry(e2!))).toBe(E2);
    expect(hex(entryHash(unhex(H1), ascii('query_2')))).toBe(H2);
    const { entry, consumed } = decodeEntry(unhex(E2));
    expect(consumed).toBe(E2.length / 2);
    expect(entry.sequence).toBe(2n);
    expect(hex(entry.prevHash)).toBe(H1);
  });

  it('sealed uncompressed segment: flags 0x0c, body_len 0x6e, 270 bytes, trailer = entry-2 hash', async () => {
    const seg = sealJournal(
      buildEntryChain(ZERO_HASH, [
        [1n, ascii('query_1')],
        [2n, ascii('query_2')],
      ]),
      0n,
      { createdMs: 1700000000000n },
    );
    const bytes = encodeJournal(seg);
    expect(bytes.length).toBe(270);
    expect(bytes[6]).toBe(0x0c);
    expect(bytes[7]).toBe(0);
    expect(hex(bytes.subarray(36, 44))).toBe('000000000000006e');
    expect(hex(bytes.subarray(128, 128 + 0x6e))).toBe(E1 + E2);
    expect(hex(bytes.subarray(238))).toBe(H2);
    expect(hex(bytes.subarray(44, 76))).toBe(
      createHash('sha256')
        .update(unhex(E1 + E2))
        .digest('hex'),
    );
    const decoded = decodeJournal(bytes);
    expect(hex(decoded.chainHash)).toBe(H2);
    expect(decoded.entries).toHaveLength(2);

    const compressed = await encodeJournalCompressed(seg, 3);
    expect(compressed[6]).toBe(0x0d);
    expect(compressed[7]).toBe(1);
    const back = decodeJournal(compressed);
    expect(back.header.flags).toBe(0x0d);
    expect(back.header.compression).toBe(1);
    expect(back.entries.map((e) => hex(e.payload))).toEqual([hex(ascii('query_1')), hex(ascii('query_2'))]);
  });

  it('unsealed header, first_seq=3, created_ms=1700000000000', () => {
    const bytes = encodeUnsealedHeader({ firstSeq: 3n, createdMs: 1700000000000n });
    const expected =
      '484144424a010000' +
      '00000000' +
      '0000000000000003' +
      '00'.repeat(8 * 3) +
      '00'.repeat(32) +
      '00'.repeat(8) +
      '0000018bcfe56800' +
      '00'.repeat(36);
    expect(hex(bytes)).toBe(expected);
    expect(bytes.length).toBe(128);
    const header = decodeJournalHeader(bytes);
    expect(header.flags).toBe(0);
    expect(header.firstSeq).toBe(3n);
    expect(header.createdMs).toBe(1700000000000n);
  });
});
