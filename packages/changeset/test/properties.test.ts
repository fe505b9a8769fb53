import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildEntryChain,
  decodeEntry,
  decodeJournal,
  decodePhysical,
  encodeEntry,
  encodeJournal,
  computeChecksum,
  encodePhysical,
  encodePhysicalChunks,
  isChangesetError,
  newPhysical,
  sealJournal,
  verifyChain,
  ZERO_HASH,
  type ChangesetErrorCode,
  type PageIdSize,
  type PhysicalChangeset,
} from '../src/index.js';
import { concat, sameBytes, samePages } from './support/bytes.js';

const U64 = (1n << 64n) - 1n;

const physicalArb = fc
  .record({
    width: fc.constantFrom<PageIdSize>(4, 8),
    seq: fc.bigInt(0n, U64),
    prev: fc.bigInt(0n, U64),
    createdMs: fc.bigInt(-(1n << 63n), (1n << 63n) - 1n),
    extraPageSize: fc.integer({ min: 0, max: 100 }),
    pages: fc.array(fc.record({ id: fc.bigInt(0n, U64), data: fc.uint8Array({ maxLength: 48 }) }), { maxLength: 8 }),
  })
  .map(({ width, seq, prev, createdMs, extraPageSize, pages }) => {
    const maxLen = Math.max(0, ...pages.map((p) => p.data.length));
    return newPhysical(
      seq,
      prev,
      width,
      maxLen + extraPageSize,
      pages.map((p) => ({ pageId: width === 4 ? p.id & 0xffff_ffffn : p.id, data: p.data })),
      { createdMs },
    );
  });

function codeOf(fn: () => unknown): ChangesetErrorCode | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (!isChangesetError(err)) throw err;
    return err.code;
  }
}

function sameChangeset(a: PhysicalChangeset, b: PhysicalChangeset): boolean {
  return (
    a.checksum === b.checksum &&
    JSON.stringify(a.header, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ===
      JSON.stringify(b.header, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) &&
    samePages(a.pages, b.pages)
  );
}

describe('.hadbp properties', () => {
  it('decode(encode(cs)) === cs, and the encoding is canonical', () => {
    fc.assert(
      fc.property(physicalArb, (cs) => {
        const bytes = encodePhysical(cs);
        const back = decodePhysical(bytes);
        expect(sameChangeset(back, cs)).toBe(true);
        expect(sameBytes(encodePhysical(back), bytes)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('the checksum is SHA-256 of be64(prev) and the encoded body; the gather encoding concatenates to encodePhysical', () => {
    fc.assert(
      fc.property(physicalArb, (cs) => {
        const bytes = encodePhysical(cs);
        const sha = createHash('sha256')
          .update(bytes.subarray(20, 28))
          .update(bytes.subarray(40, bytes.length - 8))
          .digest();
        expect(sha.readBigUInt64BE(0)).toBe(cs.checksum);
        expect(sameBytes(concat(encodePhysicalChunks(cs)), bytes)).toBe(true);
        // A u32-width checksum keeps the low 32 bits of each id.
        const wide = cs.pages.map((p, i) => ({ pageId: p.pageId | (BigInt(i + 1) << 32n), data: p.data }));
        if (cs.header.pageIdSize === 4) expect(computeChecksum(cs.header.prevChecksum, 4, wide)).toBe(cs.checksum);
      }),
      { numRuns: 300 },
    );
  });

  it('chain linkage: each link verifies from its predecessor and from nothing else', () => {
    fc.assert(
      fc.property(fc.array(physicalArb, { minLength: 1, maxLength: 5 }), fc.bigInt(0n, U64), (list, wrong) => {
        let prev = 0n;
        for (const template of list) {
          const cs = newPhysical(
            template.header.seq,
            prev,
            template.header.pageIdSize,
            template.header.pageSize,
            template.pages,
          );
          verifyChain(prev, cs);
          if (wrong !== prev) expect(codeOf(() => verifyChain(wrong, cs))).toBe('HADB_CHANGESET_CHAIN_BROKEN');
          prev = cs.checksum;
        }
      }),
      { numRuns: 100 },
    );
  });

  it('any single flipped bit is detected, except in the fields the checksum does not cover', () => {
    fc.assert(
      fc.property(physicalArb, fc.nat(), fc.integer({ min: 0, max: 7 }), (cs, at, bit) => {
        const bytes = encodePhysical(cs);
        const i = at % bytes.length;
        const mutated = bytes.slice();
        mutated[i]! ^= 1 << bit;
        const code = codeOf(() => decodePhysical(mutated));
        const bodyEnd = bytes.length - 8;
        if (i < 5) expect(code).toBe('HADB_CHANGESET_INVALID_MAGIC');
        else if (i === 5) expect(code).toBe('HADB_CHANGESET_UNSUPPORTED_VERSION');
        else if (i === 7) expect(code).toBe('HADB_CHANGESET_INVALID_PAGE_ID_SIZE');
        else if (i === 6 || (i >= 12 && i < 20) || (i >= 32 && i < 40)) {
          // flags, seq, created_ms: not covered by the checksum; decode succeeds, pages intact.
          expect(code).toBe('ok');
          const back = decodePhysical(mutated);
          expect(back.checksum).toBe(cs.checksum);
          expect(samePages(back.pages, cs.pages)).toBe(true);
        } else if (i >= 8 && i < 12) {
          // page_size: not covered; only a value below some entry's length is caught.
          expect(['ok', 'HADB_CHANGESET_PAGE_TOO_LARGE']).toContain(code);
        } else if (i >= 20 && i < 28) expect(code).toBe('HADB_CHANGESET_CHECKSUM_MISMATCH');
        else if (i >= 28 && i < 32)
          expect(['HADB_CHANGESET_TRUNCATED', 'HADB_CHANGESET_PAGE_TOO_LARGE']).toContain(code);
        else if (i < bodyEnd) {
          expect([
            'HADB_CHANGESET_CHECKSUM_MISMATCH',
            'HADB_CHANGESET_TRUNCATED',
            'HADB_CHANGESET_PAGE_TOO_LARGE',
          ]).toContain(code);
        } else expect(code).toBe('HADB_CHANGESET_CHECKSUM_MISMATCH');
      }),
      { numRuns: 2000 },
    );
  });

  it('every truncation is TRUNCATED; every extension is TRUNCATED with available > needed', () => {
    fc.assert(
      fc.property(physicalArb, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 9 }), (cs, at, extra) => {
        const bytes = encodePhysical(cs);
        const cut = at % bytes.length;
        expect(codeOf(() => decodePhysical(bytes.subarray(0, cut)))).toBe('HADB_CHANGESET_TRUNCATED');
        const longer = new Uint8Array([...bytes, ...extra]);
        try {
          decodePhysical(longer);
          expect.unreachable();
        } catch (err) {
          expect(isChangesetError(err, 'HADB_CHANGESET_TRUNCATED')).toBe(true);
          expect((err as { needed: bigint }).needed).toBe(BigInt(bytes.length));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('any successful decode of arbitrary mutations re-encodes to the same bytes (no silent reinterpretation)', () => {
    fc.assert(
      fc.property(
        physicalArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        (cs, edits) => {
          const bytes = encodePhysical(cs);
          for (const [at, value] of edits) bytes[at % bytes.length] = value;
          let decoded: PhysicalChangeset;
          try {
            decoded = decodePhysical(bytes);
          } catch (err) {
            expect(isChangesetError(err)).toBe(true);
            return;
          }
          expect(sameBytes(encodePhysical(decoded), bytes)).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

const entriesArb = fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 6 }).chain((payloads) =>
  fc.bigInt(0n, U64 - 10n).map((first) =>
    buildEntryChain(
      ZERO_HASH,
      payloads.map((p, i) => [first + BigInt(i), p] as const),
    ),
  ),
);

describe('.hadbj properties', () => {
  it('round trip and chain linkage', () => {
    fc.assert(
      fc.property(entriesArb, fc.bigInt(0n, U64), (entries, prevSeg) => {
        const seg = sealJournal(entries, prevSeg);
        const back = decodeJournal(encodeJournal(seg));
        expect(back.entries.length).toBe(entries.length);
        back.entries.forEach((e, i) => {
          expect(e.sequence).toBe(entries[i]!.sequence);
          expect(sameBytes(e.payload, entries[i]!.payload)).toBe(true);
          expect(sameBytes(e.prevHash, entries[i]!.prevHash)).toBe(true);
        });
        expect(sameBytes(back.chainHash, seg.chainHash)).toBe(true);
        expect(back.header.prevSegmentChecksum).toBe(prevSeg);
      }),
      { numRuns: 200 },
    );
  });

  it('single bit flips in a sealed segment: detected exactly where covered', () => {
    fc.assert(
      fc.property(entriesArb, fc.nat(), fc.integer({ min: 0, max: 7 }), (entries, at, bit) => {
        const bytes = encodeJournal(sealJournal(entries, 0n));
        const i = at % bytes.length;
        const mutated = bytes.slice();
        mutated[i]! ^= 1 << bit;
        const code = codeOf(() => decodeJournal(mutated));
        const bodyEnd = bytes.length - 32;
        const flagBit = 1 << bit;
        if (i < 5) expect(code).toBe('HADB_CHANGESET_INVALID_MAGIC');
        else if (i === 5) expect(code).toBe('HADB_CHANGESET_UNSUPPORTED_VERSION');
        else if (i === 6) {
          if (flagBit === 0x04) expect(code).toBe('HADB_CHANGESET_INVALID_FLAGS');
          else if (flagBit === 0x01) expect(['HADB_CHANGESET_IO', 'HADB_CHANGESET_LIMIT_EXCEEDED']).toContain(code);
          else expect(code).toBe('ok'); // 0x08 cleared: trailer ignored; unused bits: opaque
        } else if (i >= 28 && i < 36)
          // entry_count: a count that cannot fit under the body cap is refused before decoding.
          expect(['HADB_CHANGESET_TRUNCATED', 'HADB_CHANGESET_LIMIT_EXCEEDED']).toContain(code);
        else if (i >= 36 && i < 44) {
          expect(['HADB_CHANGESET_TRUNCATED', 'HADB_CHANGESET_CHECKSUM_MISMATCH']).toContain(code); // body_len
        } else if (i >= 44 && i < 76)
          expect(code).toBe('HADB_CHANGESET_CHECKSUM_MISMATCH'); // body_checksum
        else if (i < 128)
          expect(code).toBe('ok'); // compression byte, reserved, seqs, prev_segment_checksum, created_ms
        else if (i < bodyEnd)
          expect(code).toBe('HADB_CHANGESET_CHECKSUM_MISMATCH'); // body (SHA-256)
        else expect(code).toBe('HADB_CHANGESET_CHECKSUM_MISMATCH'); // trailer
      }),
      { numRuns: 2000 },
    );
  });

  it('single bit flips in an entry are always caught (CRC-32C or length)', () => {
    fc.assert(
      fc.property(entriesArb, fc.nat(), fc.integer({ min: 0, max: 7 }), (entries, at, bit) => {
        const bytes = encodeEntry(entries[0]!);
        const mutated = bytes.slice();
        mutated[at % bytes.length]! ^= 1 << bit;
        expect(['HADB_CHANGESET_CHECKSUM_MISMATCH', 'HADB_CHANGESET_TRUNCATED']).toContain(
          codeOf(() => decodeEntry(mutated)),
        );
      }),
      { numRuns: 1000 },
    );
  });
});
