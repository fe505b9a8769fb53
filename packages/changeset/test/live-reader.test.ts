import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildEntryChain,
  encodeEntry,
  encodeJournal,
  encodeUnsealedHeader,
  entryHash,
  isChangesetError,
  readLiveJournal,
  sealJournal,
  ZERO_HASH,
} from '../src/index.js';
import { ascii, chunked, collect, concat } from './support/bytes.js';
import { rejection } from '@hadb/testkit';

const header = encodeUnsealedHeader({ firstSeq: 1n, createdMs: 1n });
const entries = buildEntryChain(ZERO_HASH, [
  [1n, ascii('query_1')],
  [2n, ascii('query_2')],
  [3n, ascii('a longer third payload')],
]);
const encoded = entries.map((e) => encodeEntry(e));
const live = concat([header, ...encoded]);
const lastHash = entryHash(entries[2]!.prevHash, entries[2]!.payload);

describe('readLiveJournal', () => {
  it.each([[[1]], [[5, 17]], [[100000]]])('streams entries from offset 128 until EOF (chunks %j)', async (sizes) => {
    const reader = readLiveJournal(chunked(live, sizes));
    expect((await reader.header()).firstSeq).toBe(1n);
    const got = await collect(reader);
    expect(got.map((e) => e.sequence)).toEqual([1n, 2n, 3n]);
    expect(reader.end).toEqual({
      validEnd: live.length,
      torn: false,
      tornBytes: 0,
      entryCount: 3,
      chainHash: lastHash,
      lastSeq: 3n,
    });
  });

  it('header only: no entries, chain hash is the zero hash', async () => {
    const reader = readLiveJournal([header]);
    expect(await collect(reader)).toEqual([]);
    expect(reader.end).toMatchObject({ validEnd: 128, torn: false, entryCount: 0, lastSeq: null });
  });

  it('a torn final entry (any cut inside it) reports where valid data ends', async () => {
    const validEnd = 128 + encoded[0]!.length + encoded[1]!.length;
    for (let cut = validEnd + 1; cut < live.length; cut++) {
      const reader = readLiveJournal(chunked(live.subarray(0, cut), [13]));
      const got = await collect(reader);
      expect(got).toHaveLength(2);
      expect(reader.end).toMatchObject({ validEnd, torn: true, tornBytes: cut - validEnd, entryCount: 2, lastSeq: 2n });
    }
  });

  it('a final entry whose CRC fails with nothing after it is torn; followed by data it is corruption', async () => {
    const bad = live.slice();
    bad[bad.length - 1]! ^= 0xff;
    const reader = readLiveJournal([bad]);
    expect(await collect(reader)).toHaveLength(2);
    expect(reader.end).toMatchObject({ torn: true, tornBytes: encoded[2]!.length });

    const middle = live.slice();
    middle[128 + encoded[0]!.length + 50]! ^= 0xff;
    const err = await rejection(collect(readLiveJournal([middle])));
    expect(isChangesetError(err, 'HADB_CHANGESET_CHECKSUM_MISMATCH')).toBe(true);
  });

  it('a broken prev_hash link is CHAIN_BROKEN; expectedPrevHash anchors the first entry', async () => {
    const unlinked = concat([header, encoded[0]!, encoded[2]!]);
    expect((await rejection(collect(readLiveJournal([unlinked])))).code).toBe('HADB_CHANGESET_CHAIN_BROKEN');
    const anchored = readLiveJournal([live], { expectedPrevHash: new Uint8Array(32).fill(1) });
    expect((await rejection(collect(anchored))).code).toBe('HADB_CHANGESET_CHAIN_BROKEN');
    expect(await collect(readLiveJournal([live], { expectedPrevHash: ZERO_HASH }))).toHaveLength(3);
  });

  it('rejects sealed files, short headers and absurd payload lengths', async () => {
    const sealed = encodeJournal(sealJournal(entries, 0n));
    expect((await rejection(readLiveJournal([sealed]).header())).code).toBe('HADB_CHANGESET_INVALID_FLAGS');
    const short = await rejection(collect(readLiveJournal([header.subarray(0, 100)])));
    expect(short.code).toBe('HADB_CHANGESET_TRUNCATED');
    const forged = concat([header, encoded[0]!]);
    new DataView(forged.buffer).setUint32(128 + 4, 0xffff_ffff, false);
    expect((await rejection(collect(readLiveJournal([forged], { maxPayloadBytes: 1 << 20 })))).code).toBe(
      'HADB_CHANGESET_LIMIT_EXCEEDED',
    );
  });

  it('reads a real appended file through fs.createReadStream', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hadb-live-'));
    try {
      const path = join(dir, 'journal-0000000000000001.hadbj');
      await writeFile(path, live.subarray(0, live.length - 3));
      const reader = readLiveJournal(createReadStream(path, { highWaterMark: 64 }));
      expect(await collect(reader)).toHaveLength(2);
      expect(reader.end?.torn).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
