import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  buildEntryChain,
  type ChangesetError,
  decodeEntry,
  decodeJournal,
  encodeEntry,
  encodeJournal,
  encodeJournalCompressed,
  encodeJournalHeader,
  entryHash,
  FLAG_SEALED,
  hashToU64,
  sealJournal,
  ZERO_HASH,
  ENTRY_HEADER_SIZE,
  HADBJ_HEADER_SIZE,
  type JournalEntry,
} from '../src/index.js';
import { ascii, fill } from './support/bytes.js';
import { thrown } from '@hadb/testkit';

// Counterparts of hadb-changeset/src/journal.rs tests (spec §2.11).
const payloads = (from: number, to: number): [bigint, Uint8Array][] =>
  Array.from({ length: to - from + 1 }, (_, i) => [BigInt(from + i), ascii(`query_${from + i}`)]);

describe('journal entries', () => {
  it('entry roundtrip', () => {
    const entry: JournalEntry = { sequence: 42n, prevHash: ZERO_HASH, payload: ascii('CREATE TABLE foo (id INT)') };
    const encoded = encodeEntry(entry);
    const { entry: decoded, consumed } = decodeEntry(encoded, 0);
    expect(decoded).toEqual(entry);
    expect(consumed).toBe(encoded.length);
  });

  it('CRC detects corruption', () => {
    const encoded = encodeEntry({ sequence: 1n, prevHash: ZERO_HASH, payload: ascii('hello') });
    encoded[encoded.length - 1]! ^= 0xff;
    const err = thrown<ChangesetError>(() => decodeEntry(encoded, 0));
    expect(err.code).toBe('HADB_CHANGESET_CHECKSUM_MISMATCH');
    expect(err.message).toMatch(/^checksum mismatch: expected 0x00000000[0-9a-f]{8}, got 0x00000000[0-9a-f]{8}$/);
  });

  it('truncated entry', () => {
    const encoded = encodeEntry({ sequence: 1n, prevHash: ZERO_HASH, payload: ascii('data') });
    const err = thrown<ChangesetError>(() => decodeEntry(encoded.subarray(0, ENTRY_HEADER_SIZE - 1), 0));
    expect(err.code).toBe('HADB_CHANGESET_TRUNCATED');
    expect([err.needed, err.available]).toEqual([48n, 47n]);
    const err2 = thrown<ChangesetError>(() => decodeEntry(encoded.subarray(0, ENTRY_HEADER_SIZE + 2), 0));
    expect([err2.needed, err2.available]).toEqual([52n, 50n]);
  });

  it('empty payload', () => {
    expect(
      decodeEntry(encodeEntry({ sequence: 1n, prevHash: ZERO_HASH, payload: new Uint8Array(0) }), 0).entry.payload,
    ).toHaveLength(0);
  });

  it('decodes at an offset', () => {
    const a = encodeEntry({ sequence: 1n, prevHash: ZERO_HASH, payload: ascii('a') });
    const b = encodeEntry({ sequence: 2n, prevHash: ZERO_HASH, payload: ascii('bb') });
    const both = new Uint8Array([...a, ...b]);
    expect(decodeEntry(both, a.length).entry.sequence).toBe(2n);
  });
});

describe('chain hash', () => {
  it('deterministic, data- and prev-sensitive', () => {
    expect(entryHash(ZERO_HASH, ascii('hello'))).toEqual(entryHash(ZERO_HASH, ascii('hello')));
    expect(entryHash(ZERO_HASH, ascii('hello'))).not.toEqual(entryHash(ZERO_HASH, ascii('world')));
    const other = entryHash(ZERO_HASH, ascii('seed'));
    expect(entryHash(ZERO_HASH, ascii('hello'))).not.toEqual(entryHash(other, ascii('hello')));
    expect(entryHash(ZERO_HASH, ascii('hello'))).toEqual(
      new Uint8Array(createHash('sha256').update(ZERO_HASH).update('hello').digest()),
    );
  });

  it('linkage', () => {
    const entries = buildEntryChain(ZERO_HASH, payloads(1, 3));
    expect(entries[0]?.prevHash).toEqual(ZERO_HASH);
    const h0 = entryHash(ZERO_HASH, entries[0]!.payload);
    expect(entries[1]?.prevHash).toEqual(h0);
    expect(entries[2]?.prevHash).toEqual(entryHash(h0, entries[1]!.payload));
  });

  it('build_entry_chain: empty and custom start', () => {
    expect(buildEntryChain(ZERO_HASH, [])).toEqual([]);
    const custom = entryHash(ZERO_HASH, ascii('seed'));
    expect(buildEntryChain(custom, payloads(1, 2))[0]?.prevHash).toEqual(custom);
  });

  it('hash_to_u64', () => {
    const h = entryHash(ZERO_HASH, ascii('test'));
    expect(hashToU64(h)).not.toBe(0n);
    expect(hashToU64(h)).toBe(Buffer.from(h).readBigUInt64BE(0));
  });
});

describe('segments', () => {
  it('roundtrip (5 entries)', () => {
    const segment = sealJournal(buildEntryChain(ZERO_HASH, payloads(1, 5)), 0n);
    expect([segment.header.firstSeq, segment.header.lastSeq, segment.header.entryCount]).toEqual([1n, 5n, 5n]);
    expect(segment.header.flags).toBe(0x0c);
    const decoded = decodeJournal(encodeJournal(segment));
    expect(decoded.header).toEqual(segment.header);
    expect(decoded.chainHash).toEqual(segment.chainHash);
    expect(decoded.entries).toEqual(segment.entries);
  });

  it('single entry', () => {
    const decoded = decodeJournal(encodeJournal(sealJournal(buildEntryChain(ZERO_HASH, [[1n, ascii('single')]]), 0n)));
    expect(decoded.entries).toHaveLength(1);
    expect([decoded.header.firstSeq, decoded.header.lastSeq]).toEqual([1n, 1n]);
  });

  it('large payloads (10 x 10 000 B)', () => {
    const list: [bigint, Uint8Array][] = Array.from({ length: 10 }, (_, i) => [BigInt(i + 1), fill(i + 1, 10_000)]);
    const decoded = decodeJournal(encodeJournal(sealJournal(buildEntryChain(ZERO_HASH, list), 0n)));
    expect(decoded.entries).toHaveLength(10);
    decoded.entries.forEach((e, i) => {
      expect(e.payload.length).toBe(10_000);
      expect(e.payload[0]).toBe(i + 1);
    });
  });

  it('prev_segment_checksum 0xDEADBEEF', () => {
    const segment = sealJournal(buildEntryChain(ZERO_HASH, payloads(1, 3)), 0xdeadbeefn);
    expect(decodeJournal(encodeJournal(segment)).header.prevSegmentChecksum).toBe(0xdeadbeefn);
  });

  it('chains across segments', () => {
    const seg1 = sealJournal(buildEntryChain(ZERO_HASH, payloads(1, 3)), 0n);
    const seg2 = sealJournal(buildEntryChain(seg1.chainHash, payloads(4, 6)), hashToU64(seg1.chainHash));
    expect(seg2.header.prevSegmentChecksum).toBe(hashToU64(seg1.chainHash));
    const dec1 = decodeJournal(encodeJournal(seg1));
    const dec2 = decodeJournal(encodeJournal(seg2));
    expect(dec2.entries[0]?.prevHash).toEqual(dec1.chainHash);
  });

  it('bad magic / bad version / truncated header / truncated body', () => {
    const bytes = encodeJournal(sealJournal(buildEntryChain(ZERO_HASH, payloads(1, 1)), 0n));
    const badMagic = bytes.slice();
    badMagic[0] = 'X'.charCodeAt(0);
    expect(thrown<ChangesetError>(() => decodeJournal(badMagic)).code).toBe('HADB_CHANGESET_INVALID_MAGIC');
    const badVersion = bytes.slice();
    badVersion[5] = 99;
    expect(thrown<ChangesetError>(() => decodeJournal(badVersion)).message).toBe('unsupported version: 99');
    const short = thrown<ChangesetError>(() => decodeJournal(new Uint8Array(10)));
    expect([short.code, short.needed, short.available]).toEqual(['HADB_CHANGESET_TRUNCATED', 128n, 10n]);
    const cut = thrown<ChangesetError>(() => decodeJournal(bytes.subarray(0, HADBJ_HEADER_SIZE + 5)));
    expect([cut.code, cut.needed, cut.available]).toEqual(['HADB_CHANGESET_TRUNCATED', BigInt(128 + 55), 133n]);
  });

  it('corrupted body (byte 138) and corrupted trailer', () => {
    const bytes = encodeJournal(sealJournal(buildEntryChain(ZERO_HASH, payloads(1, 1)), 0n));
    const body = bytes.slice();
    body[HADBJ_HEADER_SIZE + 10]! ^= 0xff;
    expect(thrown<ChangesetError>(() => decodeJournal(body)).code).toBe('HADB_CHANGESET_CHECKSUM_MISMATCH');
    const trailer = bytes.slice();
    trailer[trailer.length - 1]! ^= 0xff;
    const err = thrown<ChangesetError>(() => decodeJournal(trailer));
    expect(err.code).toBe('HADB_CHANGESET_CHECKSUM_MISMATCH');
    expect(err.expected).toBe(hashToU64(trailer.subarray(trailer.length - 32)));
  });

  it('broken entry chain (flags SEALED only, no trailer)', () => {
    const e1 = encodeEntry({ sequence: 1n, prevHash: ZERO_HASH, payload: ascii('first') });
    const e2 = encodeEntry({ sequence: 2n, prevHash: ZERO_HASH, payload: ascii('second') });
    const body = new Uint8Array([...e1, ...e2]);
    const header = encodeJournalHeader({
      flags: FLAG_SEALED,
      compression: 0,
      firstSeq: 1n,
      lastSeq: 2n,
      entryCount: 2n,
      bodyLen: BigInt(body.length),
      bodyChecksum: new Uint8Array(createHash('sha256').update(body).digest()),
      prevSegmentChecksum: 0n,
      createdMs: 0n,
    });
    const err = thrown<ChangesetError>(() => decodeJournal(new Uint8Array([...header, ...body])));
    expect(err.code).toBe('HADB_CHANGESET_CHAIN_BROKEN');
    expect(err.expected).toBe(hashToU64(entryHash(ZERO_HASH, ascii('first'))));
    expect(err.changesetPrev).toBe(0n);
  });

  it('entry count mismatch is Truncated { needed: entry_count, available: parsed }', () => {
    const segment = sealJournal(buildEntryChain(ZERO_HASH, payloads(1, 2)), 0n);
    const bytes = encodeJournal({ ...segment, header: { ...segment.header, entryCount: 3n } });
    const err = thrown<ChangesetError>(() => decodeJournal(bytes));
    expect([err.code, err.needed, err.available]).toEqual(['HADB_CHANGESET_TRUNCATED', 3n, 2n]);
  });

  it('unsealed data is InvalidFlags', () => {
    const segment = sealJournal(buildEntryChain(ZERO_HASH, payloads(1, 1)), 0n);
    const err = thrown<ChangesetError>(() =>
      decodeJournal(encodeJournal({ ...segment, header: { ...segment.header, flags: 0x08 } })),
    );
    expect(err.code).toBe('HADB_CHANGESET_INVALID_FLAGS');
    expect(err.message).toBe('invalid flags: 0x08');
  });

  it('forged body_len near 2^64 is Truncated, not an exception', () => {
    const bytes = encodeJournal(sealJournal(buildEntryChain(ZERO_HASH, payloads(1, 1)), 0n));
    new DataView(bytes.buffer).setBigUint64(36, (1n << 64n) - 1n, false);
    const err = thrown<ChangesetError>(() => decodeJournal(bytes));
    expect([err.needed, err.available]).toEqual([(1n << 64n) - 1n + 128n, BigInt(bytes.length)]);
  });

  it('seal of nothing throws like the Rust panic', () => {
    const err = thrown<ChangesetError>(() => sealJournal([], 0n));
    expect(err.code).toBe('HADB_CHANGESET_EMPTY_SEGMENT');
    expect(err.message).toBe('cannot seal an empty journal segment');
  });

  it('compressed roundtrip (20 entries, level 3) is smaller and decodes', async () => {
    const segment = sealJournal(buildEntryChain(ZERO_HASH, payloads(1, 20)), 0n);
    const compressed = await encodeJournalCompressed(segment, 3);
    expect(compressed.length).toBeLessThan(encodeJournal(segment).length);
    const decoded = decodeJournal(compressed);
    expect(decoded.entries).toHaveLength(20);
    expect(decoded.chainHash).toEqual(segment.chainHash);
    expect(decoded.header.flags & 0x01).toBe(1);
  });

  it('compressed large payloads (50 x 1000 B)', async () => {
    const list: [bigint, Uint8Array][] = Array.from({ length: 50 }, (_, i) => [BigInt(i + 1), fill(0xaa, 1000)]);
    const decoded = decodeJournal(await encodeJournalCompressed(sealJournal(buildEntryChain(ZERO_HASH, list), 0n), 3));
    expect(decoded.entries).toHaveLength(50);
  });

  it('a corrupt zstd body with a valid body checksum is a typed IO error', async () => {
    const segment = sealJournal(buildEntryChain(ZERO_HASH, payloads(1, 20)), 0n);
    const compressed = await encodeJournalCompressed(segment, 3);
    const body = compressed.slice(128, compressed.length - 32);
    body[body.length - 3]! ^= 0x55;
    body[8]! ^= 0x55;
    const header = compressed.slice(0, 128);
    header.set(createHash('sha256').update(body).digest(), 44);
    const err = thrown<ChangesetError>(() =>
      decodeJournal(new Uint8Array([...header, ...body, ...compressed.subarray(compressed.length - 32)])),
    );
    expect(['HADB_CHANGESET_IO', 'HADB_CHANGESET_TRUNCATED', 'HADB_CHANGESET_CHECKSUM_MISMATCH']).toContain(err.code);
  });
});
