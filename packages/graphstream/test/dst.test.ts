import { open, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withFaults } from '@hadb/testkit/storage';
import { describe, expect, it } from 'vitest';
import {
  JournalFollower,
  JournalShipper,
  JournalUploader,
  JournalWriter,
  downloadNewSegments,
  isGraphstreamError,
  recoverJournal,
  segmentFileName,
  segmentKey,
} from '../src/index.js';
import { DB, memStorage, PREFIX, readAll, testShipper, writeSegments } from './helpers/journal.js';
import { q, tempDir, text } from './helpers/tmp.js';
import { until } from '@hadb/testkit';

const ZERO = { seq: 0n, chainHash: new Uint8Array(32) };

describe('deterministic fault scenarios', () => {
  it('random upload errors: failed uploads stay pending and eventually land', async () => {
    const dir = await tempDir();
    await writeSegments(dir, 1, 40, 4);
    const storage = withFaults(memStorage(), { seed: 7, errorRate: 0.4, lostReplies: 0.2 });
    const up = await JournalUploader.open({ storage, prefix: PREFIX, db: DB, dir });
    let rounds = 0;
    while ((await up.pendingNames()).length > 0 && rounds < 50) {
      rounds++;
      await up.uploadPending().catch(() => undefined);
    }
    expect(await up.pendingNames()).toEqual([]);
    expect(rounds).toBeGreaterThan(1);
    expect(up.metrics.get('upload_errors')).toBeGreaterThan(0);
    storage.setFaults({ errorRate: 0, lostReplies: 0 });
    const follower = await tempDir();
    await downloadNewSegments({ storage, prefix: PREFIX, db: DB, dir: follower, since: ZERO });
    expect((await readAll(follower)).map((e) => Number(e.seq))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('eventual consistency: a follower polling while the leader writes converges', async () => {
    const storage = memStorage();
    const shipper = await testShipper(storage);
    const follower = await JournalFollower.open({ storage, prefix: PREFIX, db: DB, dir: await tempDir() });
    const seen: bigint[] = [];
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 5; i++) await shipper.append(q(round * 5 + i + 1));
      if (round % 2 === 0) await shipper.sync();
      await follower.catchUp((e) => void seen.push(e.seq));
    }
    await shipper.close();
    await follower.catchUp((e) => void seen.push(e.seq));
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => BigInt(i + 1)));
  });

  it('segment loss: a follower stalls with GAP and resumes when the segment is restored', async () => {
    const leader = await tempDir();
    const storage = memStorage();
    await writeSegments(leader, 1, 9, 3);
    await (await JournalUploader.open({ storage, prefix: PREFIX, db: DB, dir: leader })).uploadPending();
    const key = segmentKey(PREFIX, DB, 4n);
    const saved = (await storage.get(key))!.data;
    await storage.delete(key);
    const follower = await JournalFollower.open({ storage, prefix: PREFIX, db: DB, dir: await tempDir() });
    const seen: bigint[] = [];
    const err = await follower.catchUp((e) => void seen.push(e.seq)).catch((e: unknown) => e);
    expect(isGraphstreamError(err, 'HADB_GRAPHSTREAM_GAP')).toBe(true);
    expect(follower.downloaded.seq).toBe(3n);
    await storage.put(key, saved);
    await follower.catchUp((e) => void seen.push(e.seq));
    expect(seen.map(Number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('silent corruption in storage is detected and nothing is stored locally', async () => {
    const leader = await tempDir();
    const storage = memStorage();
    await writeSegments(leader, 1, 6, 3);
    await (await JournalUploader.open({ storage, prefix: PREFIX, db: DB, dir: leader })).uploadPending();
    const key = segmentKey(PREFIX, DB, 4n);
    const good = (await storage.get(key))!.data;
    for (const at of [5, 60, 140, good.length - 40, good.length - 1]) {
      const bad = Uint8Array.from(good);
      bad[at] = bad[at]! ^ 0x40;
      await storage.put(key, bad);
      const dir = await tempDir();
      const err = await downloadNewSegments({ storage, prefix: PREFIX, db: DB, dir, since: ZERO }).catch(
        (e: unknown) => e,
      );
      expect(isGraphstreamError(err), `flip at ${at}`).toBe(true);
      // The good first segment is kept, the corrupt one never becomes visible.
      expect((await readAll(dir)).map((e) => Number(e.seq))).toEqual([1, 2, 3]);
    }
  });

  it('torn (partial) writes in storage are rejected by length and checksum', async () => {
    const leader = await tempDir();
    const storage = withFaults(memStorage(), { seed: 3, tornWrites: 1 });
    await writeSegments(leader, 1, 3, 3);
    const up = await JournalUploader.open({ storage, prefix: PREFIX, db: DB, dir: leader });
    await up.uploadPending();
    const err = await downloadNewSegments({ storage, prefix: PREFIX, db: DB, dir: await tempDir(), since: ZERO }).catch(
      (e: unknown) => e,
    );
    expect(isGraphstreamError(err, 'HADB_GRAPHSTREAM_INVALID_SEGMENT')).toBe(true);
  });

  it('partial local writes: a torn live tail is truncated to the last valid entry', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir, fsyncMs: 0 });
    for (let i = 1; i <= 10; i++) await w.append(q(i));
    // The live file as a crash would leave it (copied before any seal).
    const path = join(dir, segmentFileName(1n));
    const live = await readFile(path);
    const sizes = [live.length - 1, live.length - 30, live.length - 60];
    for (const size of sizes) {
      const copy = await tempDir();
      await writeFile(join(copy, segmentFileName(1n)), live.subarray(0, size));
      const r = await recoverJournal(copy, { truncateTornTail: true });
      expect(r.position.seq).toBe(size > live.length - 56 ? 9n : 8n); // entry 10 is 56 bytes
      expect(r.truncatedBytes).toBeGreaterThan(0);
      expect((await stat(join(copy, segmentFileName(1n)))).size).toBe(r.live!.size);
      const w2 = await JournalWriter.open({ dir: copy, fsyncMs: 0 });
      await w2.append(q(99));
      await w2.close();
      const all = await readAll(copy);
      expect(all.at(-1)!.seq).toBe(r.position.seq + 1n);
      expect(text(all.at(-1)!.payload)).toBe('query_99');
    }
    // Garbage appended after valid entries (a torn batch) is cut too.
    const copy = await tempDir();
    await writeFile(join(copy, segmentFileName(1n)), Buffer.concat([live, Buffer.alloc(200, 0xab)]));
    expect((await recoverJournal(copy, { truncateTornTail: true })).position.seq).toBe(10n);
    await w.close();
  });

  it('corruption of a sealed segment is an error, never silently dropped', async () => {
    const dir = await tempDir();
    await writeSegments(dir, 1, 6, 3);
    const path = join(dir, segmentFileName(4n));
    const fh = await open(path, 'r+');
    await fh.write(Uint8Array.of(0xff), 0, 1, 150);
    await fh.close();
    await truncate(path, (await stat(path)).size - 1);
    const err = await JournalWriter.open({ dir }).catch((e: unknown) => e);
    expect(isGraphstreamError(err, 'HADB_GRAPHSTREAM_CORRUPT')).toBe(true);
  });

  it('concurrent writer, uploader and downloader with faults and latency converge', async () => {
    const inner = memStorage();
    const storage = withFaults(inner, { seed: 11, errorRate: 0.15, latencyMs: [0, 3] });
    const errors: unknown[] = [];
    const shipper = await JournalShipper.open({
      storage,
      prefix: PREFIX,
      db: DB,
      dir: await tempDir(),
      fsyncMs: 2,
      segmentMaxBytes: 600,
      uploadIntervalMs: 5,
      compactionThreshold: 4,
      onError: (e) => errors.push(e),
    });
    const follower = await JournalFollower.open({ storage, prefix: PREFIX, db: DB, dir: await tempDir() });
    const seen: string[] = [];
    const stop = new AbortController();
    const reading = follower.run((e) => void seen.push(text(e.payload)), { signal: stop.signal, intervalMs: 3 });
    const writes = [];
    for (let i = 1; i <= 150; i++) {
      writes.push(shipper.append(q(i)));
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    await Promise.all(writes);
    storage.setFaults({ errorRate: 0 });
    await shipper.close();
    await until(() => follower.applied.seq >= 150n, { timeoutMs: 20_000, what: 'follower at seq 150' }).catch(() => {});
    stop.abort();
    await reading;
    expect(seen).toEqual(Array.from({ length: 150 }, (_, i) => `query_${i + 1}`));
    expect(shipper.metrics.get('segments_sealed')).toBeGreaterThan(5);
  }, 60_000);
});
