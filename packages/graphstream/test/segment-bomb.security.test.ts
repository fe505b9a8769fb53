import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import {
  COMPRESSION_ZSTD,
  ENTRY_HEADER_SIZE,
  encodeEntry,
  encodeJournalHeader,
  entryHash,
  FLAG_COMPRESSED,
  FLAG_HAS_CHAIN_HASH,
  FLAG_SEALED,
  isChangesetError,
  ZERO_HASH,
  zstdCompress,
} from '@hadb/changeset';
import { describe, expect, it } from 'vitest';
import { JournalFollower, isGraphstreamError, segmentKey, verifySegmentStream } from '../src/index.js';
import { DB, memStorage, PREFIX } from './helpers/journal.js';
import { tempDir } from './helpers/tmp.js';

/**
 * A `.hadbj` decompression bomb in storage (issue 12): a fully valid sealed segment of a few KB
 * whose zstd body inflates to many MiB (the changeset tests take a 72 MiB one to the default cap). Followers refuse it, typed, before more than the cap is
 * produced or handed on, and keep nothing of it locally.
 */
const MiB = 1024 * 1024;

async function bomb(entries: number): Promise<Uint8Array> {
  const zeros = new Uint8Array(MiB);
  const zeroFrame = await zstdCompress(zeros, { level: 19 });
  const parts: Uint8Array[] = [];
  let prev: Uint8Array = ZERO_HASH;
  for (let i = 1; i <= entries; i++) {
    const head = encodeEntry({ sequence: BigInt(i), prevHash: prev, payload: zeros }).subarray(0, ENTRY_HEADER_SIZE);
    parts.push(await zstdCompress(head), zeroFrame);
    prev = entryHash(prev, zeros);
  }
  const body = Buffer.concat(parts);
  const header = encodeJournalHeader({
    flags: FLAG_SEALED | FLAG_HAS_CHAIN_HASH | FLAG_COMPRESSED,
    compression: COMPRESSION_ZSTD,
    firstSeq: 1n,
    lastSeq: BigInt(entries),
    entryCount: BigInt(entries),
    bodyLen: BigInt(body.length),
    bodyChecksum: new Uint8Array(createHash('sha256').update(body).digest()),
    prevSegmentChecksum: 0n,
    createdMs: 0n,
  });
  return Buffer.concat([header, body, prev]);
}

async function* chunks(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += 16 * 1024) yield bytes.subarray(i, i + 16 * 1024);
}

describe('segment decompression bombs', () => {
  it('streaming verification stops at the cap: typed, and at most the cap reaches onEntry', async () => {
    const bytes = await bomb(16);
    expect(bytes.length).toBeLessThan(32 * 1024);
    let delivered = 0;
    const err = await verifySegmentStream(chunks(bytes), {
      maxBodyBytes: 8 * MiB,
      onEntry: (e) => void (delivered += e.payload.length),
    }).catch((e: unknown) => e);
    expect(isGraphstreamError(err, 'HADB_GRAPHSTREAM_INVALID_SEGMENT')).toBe(true);
    expect(isChangesetError((err as Error).cause, 'HADB_CHANGESET_LIMIT_EXCEEDED')).toBe(true);
    expect(delivered).toBeLessThanOrEqual(8 * MiB);
  }, 60_000);

  it('the default cap is 64 MiB: an entry count that needs more is refused before anything is inflated', async () => {
    // The body is not zstd: inflating it would fail differently (HADB_CHANGESET_IO).
    const body = new Uint8Array(64).fill(7);
    const entryCount = BigInt(Math.floor((64 * MiB) / ENTRY_HEADER_SIZE) + 1);
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
    const err = await verifySegmentStream(chunks(Buffer.concat([header, body, ZERO_HASH]))).catch((e: unknown) => e);
    expect(isGraphstreamError(err, 'HADB_GRAPHSTREAM_INVALID_SEGMENT')).toBe(true);
    expect(isChangesetError((err as Error).cause, 'HADB_CHANGESET_LIMIT_EXCEEDED')).toBe(true);
  });

  it('a configured cap refuses a segment the default would take, and a follower keeps nothing of it', async () => {
    const bytes = await bomb(8);
    // Under the default cap the segment is valid.
    expect((await verifySegmentStream(chunks(bytes))).entryCount).toBe(8);
    const storage = memStorage();
    await storage.put(segmentKey(PREFIX, DB, 1n), bytes);
    const dir = await tempDir();
    const follower = await JournalFollower.open({ storage, prefix: PREFIX, db: DB, dir, maxSegmentBodyBytes: 4 * MiB });
    const err = await follower.poll().catch((e: unknown) => e);
    expect(isGraphstreamError(err, 'HADB_GRAPHSTREAM_INVALID_SEGMENT')).toBe(true);
    expect(follower.downloaded.seq).toBe(0n);
    expect((await readdir(dir)).filter((f) => f.endsWith('.hadbj'))).toEqual([]);
    await follower.close();
  }, 60_000);

  it('refuses an invalid cap at open', async () => {
    const err = await JournalFollower.open({
      storage: memStorage(),
      prefix: PREFIX,
      db: DB,
      dir: await tempDir(),
      maxSegmentBodyBytes: 0,
    }).catch((e: unknown) => e);
    expect(isGraphstreamError(err, 'HADB_GRAPHSTREAM_INVALID_CONFIG')).toBe(true);
  });
});
