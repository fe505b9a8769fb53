import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  COMPRESSION_ZSTD,
  DEFAULT_MAX_JOURNAL_BODY_BYTES,
  decodeJournal,
  ENTRY_HEADER_SIZE,
  encodeEntry,
  encodeJournalCompressed,
  encodeJournalHeader,
  entryHash,
  FLAG_COMPRESSED,
  FLAG_HAS_CHAIN_HASH,
  FLAG_SEALED,
  isChangesetError,
  type JournalEntry,
  sealJournal,
  ZERO_HASH,
  zstdCompress,
} from '../src/index.js';

/**
 * `.hadbj` decompression bombs (issue 12): a sealed segment whose small zstd body inflates to far
 * more than any writer seals. Every check here is what an attacker with write access to the
 * bucket can get past (checksums are not secrets), so only size bounds stop it.
 */

const MiB = 1024 * 1024;

/** A fully valid segment (checksum, CRCs, chain, trailer) of `entries` entries of `payloadBytes` zeros each. */
async function bomb(entries: number, payloadBytes = MiB): Promise<Uint8Array> {
  const zeros = new Uint8Array(payloadBytes);
  const zeroFrame = await zstdCompress(zeros, { level: 19 });
  const parts: Uint8Array[] = [];
  let prev: Uint8Array = ZERO_HASH;
  for (let i = 1; i <= entries; i++) {
    const head = encodeEntry({ sequence: BigInt(i), prevHash: prev, payload: zeros }).subarray(0, ENTRY_HEADER_SIZE);
    parts.push(await zstdCompress(head), zeroFrame);
    prev = entryHash(prev, zeros);
  }
  return assemble(Buffer.concat(parts), BigInt(entries), prev);
}

function assemble(body: Uint8Array, entryCount: bigint, chainHash: Uint8Array): Uint8Array {
  const header = encodeJournalHeader({
    flags: FLAG_SEALED | FLAG_HAS_CHAIN_HASH | FLAG_COMPRESSED,
    compression: COMPRESSION_ZSTD,
    firstSeq: 1n,
    lastSeq: entryCount,
    entryCount,
    bodyLen: BigInt(body.length),
    bodyChecksum: new Uint8Array(createHash('sha256').update(body).digest()),
    prevSegmentChecksum: 0n,
    createdMs: 0n,
  });
  return Buffer.concat([header, body, chainHash]);
}

const failure = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
};

describe('journal decompression bombs', () => {
  it('a ~60 KB segment inflating to 72 MiB is refused at the default cap, typed', async () => {
    const bytes = await bomb(72);
    expect(bytes.length).toBeLessThan(256 * 1024);
    expect(DEFAULT_MAX_JOURNAL_BODY_BYTES).toBeLessThan(72 * MiB);
    const err = failure(() => decodeJournal(bytes));
    expect(isChangesetError(err, 'HADB_CHANGESET_LIMIT_EXCEEDED')).toBe(true);
  }, 60_000);

  it('honours a configured cap: the same valid segment decodes above its size and is refused below it', async () => {
    const bytes = await bomb(4);
    const raw = 4 * (ENTRY_HEADER_SIZE + MiB);
    expect(decodeJournal(bytes, { maxOutputBytes: raw }).entries).toHaveLength(4);
    expect(
      isChangesetError(
        failure(() => decodeJournal(bytes, { maxOutputBytes: raw - 1 })),
        'HADB_CHANGESET_LIMIT_EXCEEDED',
      ),
    ).toBe(true);
  });

  it('a forged entry count that cannot fit under the cap is refused before anything is inflated', () => {
    // The body is not zstd at all: inflating it would be HADB_CHANGESET_IO.
    const body = new Uint8Array(64).fill(7);
    const bytes = assemble(body, 2n ** 40n, ZERO_HASH);
    expect(
      isChangesetError(
        failure(() => decodeJournal(bytes)),
        'HADB_CHANGESET_LIMIT_EXCEEDED',
      ),
    ).toBe(true);
    expect(
      isChangesetError(
        failure(() => decodeJournal(bytes, { maxOutputBytes: 2 ** 50 })),
        'HADB_CHANGESET_IO',
      ),
    ).toBe(true);
  });

  it('property: a sealed compressed segment decodes iff its raw body fits the cap', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: ENTRY_HEADER_SIZE, max: 5000 }),
        async (payloads, cap) => {
          let prev: Uint8Array = ZERO_HASH;
          const entries: JournalEntry[] = payloads.map((payload, i) => {
            const entry = { sequence: BigInt(i + 1), prevHash: prev, payload };
            prev = entryHash(prev, payload);
            return entry;
          });
          const raw = payloads.reduce((n, p) => n + ENTRY_HEADER_SIZE + p.length, 0);
          const bytes = await encodeJournalCompressed(sealJournal(entries, 0n, { createdMs: 0n }));
          const err = failure(() => decodeJournal(bytes, { maxOutputBytes: cap }));
          if (raw <= cap) expect(err).toBeUndefined();
          else expect(isChangesetError(err, 'HADB_CHANGESET_LIMIT_EXCEEDED')).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });
});
