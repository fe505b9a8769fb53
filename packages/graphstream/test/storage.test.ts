import { systemClock } from '@hadb/io';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  JournalFollower,
  JournalShipper,
  JournalUploader,
  UploadManifest,
  compactJournal,
  downloadNewSegments,
  isGraphstreamError,
  segmentFileName,
  segmentKey,
} from '../src/index.js';
import { DB, memStorage, PREFIX, readAll, testShipper, writeSegments } from './helpers/journal.js';
import { tempDir, text } from './helpers/tmp.js';

const ZERO = { seq: 0n, chainHash: new Uint8Array(32) };

describe('uploader and shipper options', () => {
  it('reject bad values with HADB_GRAPHSTREAM_INVALID_CONFIG instead of clamping them', async () => {
    const storage = memStorage();
    const dir = await tempDir();
    await expect(JournalUploader.open({ storage, prefix: PREFIX, db: DB, dir, concurrency: 0 })).rejects.toMatchObject({
      code: 'HADB_GRAPHSTREAM_INVALID_CONFIG',
    });
    for (const bad of [{ uploadIntervalMs: -1 }, { compactionThreshold: 1.5 }, { uploadConcurrency: 0 }]) {
      await expect(JournalShipper.open({ storage, prefix: PREFIX, db: DB, dir, ...bad })).rejects.toMatchObject({
        code: 'HADB_GRAPHSTREAM_INVALID_CONFIG',
      });
    }
  });
});

describe('keys', () => {
  it('use the header first_seq in hex, never the decimal file name', () => {
    expect(segmentKey('test/', 'db', 1n)).toBe('test/db/0000/0000000000000001.hadbj');
    expect(segmentKey('test/', 'db', 600n)).toBe('test/db/0000/0000000000000258.hadbj');
    expect(segmentKey('test/', 'db', 42n)).toBe('test/db/0000/000000000000002a.hadbj');
    expect(segmentKey('db/', 'mydb', 1000n)).toBe('db/mydb/0000/00000000000003e8.hadbj');
    expect(segmentFileName(600n)).toBe('journal-0000000000000600.hadbj');
    expect(() => segmentKey('x/', '../evil', 1n)).toThrow();
  });
});

describe('uploader', () => {
  it('uploads sealed segments only, verified, keyed by first_seq, recorded in the manifest', async () => {
    const dir = await tempDir();
    const storage = memStorage();
    await writeSegments(dir, 1, 9, 3);
    const up = await JournalUploader.open({ storage, prefix: PREFIX, db: DB, dir });
    const results = await up.uploadPending();
    expect(results.map((r) => r.key)).toEqual([1n, 4n, 7n].map((s) => segmentKey(PREFIX, DB, s)));
    expect(results.every((r) => r.outcome === 'uploaded')).toBe(true);
    expect(await up.pendingNames()).toEqual([]);
    const manifest = JSON.parse(await readFile(join(dir, 'upload_manifest.json'), 'utf8')) as {
      uploaded: string[];
      total_bytes: number;
    };
    expect(manifest.uploaded).toHaveLength(3);
    expect(manifest.total_bytes).toBeGreaterThan(0);
    // Idempotent: a lost manifest means re-uploading identical bytes, which counts as present.
    const again = await JournalUploader.open({ storage, prefix: PREFIX, db: DB, dir: dir });
    await again.manifest.forget(again.manifest.names());
    expect((await again.uploadPending()).map((r) => r.outcome)).toEqual(['present', 'present', 'present']);
    await up.close();
  });

  it('never uploads the live segment and refuses a diverged history', async () => {
    const dir = await tempDir();
    const other = await tempDir();
    const storage = memStorage();
    await writeSegments(dir, 1, 3, 3);
    await writeSegments(other, 1, 3, 3);
    // A different history with the same first_seq: payloads differ.
    const { JournalWriter } = await import('../src/index.js');
    const w = await JournalWriter.open({ dir: other, fsyncMs: 0 });
    await w.append(new TextEncoder().encode('live'));
    const up1 = await JournalUploader.open({ storage, prefix: PREFIX, db: DB, dir });
    await up1.uploadPending();
    const diverged = await tempDir();
    const w2 = await JournalWriter.open({ dir: diverged, fsyncMs: 0 });
    await w2.append(new TextEncoder().encode('different'));
    await w2.close();
    const up2 = await JournalUploader.open({ storage, prefix: PREFIX, db: DB, dir: diverged });
    const err = await up2.upload(segmentFileName(1n)).catch((e: unknown) => e);
    expect(isGraphstreamError(err, 'HADB_GRAPHSTREAM_UPLOAD_CONFLICT')).toBe(true);
    const up3 = await JournalUploader.open({ storage, prefix: PREFIX, db: DB, dir: other });
    expect(await up3.pendingNames()).toEqual([segmentFileName(1n)]);
    await w.close();
  });

  it('runs at most `concurrency` uploads at once', async () => {
    const dir = await tempDir();
    const inner = memStorage();
    let running = 0;
    let peak = 0;
    const storage = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'putIfAbsent') {
          return async (...args: Parameters<typeof inner.putIfAbsent>) => {
            running++;
            peak = Math.max(peak, running);
            await new Promise((r) => setTimeout(r, 20));
            try {
              return await inner.putIfAbsent(...args);
            } finally {
              running--;
            }
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    await writeSegments(dir, 1, 12, 1);
    const up = await JournalUploader.open({ storage, prefix: PREFIX, db: DB, dir, concurrency: 4 });
    await up.uploadPending();
    expect(peak).toBe(4);
  });
});

describe('manifest cache cleanup', () => {
  it('deletes old or excess uploaded files only, never pending ones', async () => {
    const dir = await tempDir();
    await writeSegments(dir, 1, 6, 2);
    const m = await UploadManifest.load(dir);
    await m.markUploaded(segmentFileName(1n), 10);
    await m.markUploaded(segmentFileName(3n), 10);
    const deleted = await m.cleanup({ retentionMs: 0, clock: { ...systemClock, wallMs: () => Date.now() + 1000 } });
    expect(deleted.sort()).toEqual([segmentFileName(1n), segmentFileName(3n)]);
    expect((await readdir(dir)).filter((n) => n.startsWith('journal-'))).toEqual([segmentFileName(5n)]);
    expect((await UploadManifest.load(dir)).names()).toEqual([]);
  });
});

describe('downloader and follower', () => {
  it('downloads incrementally and replays from any sequence', async () => {
    const leader = await tempDir();
    const follower = await tempDir();
    const storage = memStorage();
    await writeSegments(leader, 1, 10, 4);
    const up = await JournalUploader.open({ storage, prefix: PREFIX, db: DB, dir: leader });
    await up.uploadPending();
    const got = await downloadNewSegments({ storage, prefix: PREFIX, db: DB, dir: follower, since: ZERO });
    expect(got.map((g) => [g.firstSeq, g.lastSeq])).toEqual([
      [1n, 4n],
      [5n, 8n],
      [9n, 10n],
    ]);
    const last = got[got.length - 1]!;
    expect(
      await downloadNewSegments({
        storage,
        prefix: PREFIX,
        db: DB,
        dir: follower,
        since: { seq: 10n, chainHash: last.chainHash },
      }),
    ).toEqual([]);
    expect((await readAll(follower, 6n)).map((e) => text(e.payload))).toEqual([
      'query_6',
      'query_7',
      'query_8',
      'query_9',
      'query_10',
    ]);
  });

  it('reports a gap and an overlap with typed errors', async () => {
    const storage = memStorage();
    const a = await tempDir();
    await writeSegments(a, 1, 6, 2);
    const up = await JournalUploader.open({ storage, prefix: PREFIX, db: DB, dir: a });
    await up.uploadPending();
    await storage.delete(segmentKey(PREFIX, DB, 3n));
    const gap = await downloadNewSegments({ storage, prefix: PREFIX, db: DB, dir: await tempDir(), since: ZERO }).catch(
      (e: unknown) => e,
    );
    expect(isGraphstreamError(gap, 'HADB_GRAPHSTREAM_GAP')).toBe(true);

    // Overlap: a segment 2..3 next to 1..2 (neither covers the other).
    const storage2 = memStorage();
    const b = await tempDir();
    await writeSegments(b, 1, 3, 2); // journal-1 = 1..2, journal-3 = 3..3
    const upB = await JournalUploader.open({ storage: storage2, prefix: PREFIX, db: DB, dir: b });
    await upB.uploadPending();
    const c = await tempDir();
    await writeSegments(c, 1, 3, 1); // 1, 2, 3 single-entry segments of the same history
    const { readFile: rf } = await import('node:fs/promises');
    // Build a 2..3 segment from the same history and put it at key 2.
    const d = await tempDir();
    const { JournalWriter } = await import('../src/index.js');
    const w = await JournalWriter.open({ dir: d, fsyncMs: 0 });
    await w.append(new TextEncoder().encode('query_1'));
    await w.sealForUpload();
    await w.append(new TextEncoder().encode('query_2'));
    await w.append(new TextEncoder().encode('query_3'));
    await w.close();
    await storage2.put(segmentKey(PREFIX, DB, 2n), await rf(join(d, segmentFileName(2n))));
    const overlap = await downloadNewSegments({
      storage: storage2,
      prefix: PREFIX,
      db: DB,
      dir: await tempDir(),
      since: ZERO,
    }).catch((e: unknown) => e);
    expect(isGraphstreamError(overlap, 'HADB_GRAPHSTREAM_OVERLAP')).toBe(true);
  });

  it('shipper and follower: leader writes, follower catches up and replays', async () => {
    const storage = memStorage();
    const shipper = await testShipper(storage);
    const follower = await JournalFollower.open({ storage, prefix: PREFIX, db: DB, dir: await tempDir() });
    const seen: string[] = [];
    for (let i = 1; i <= 5; i++) await shipper.append(new TextEncoder().encode(`w${i}`));
    await shipper.sync();
    expect(await follower.catchUp((e) => void seen.push(text(e.payload)))).toBe(5);
    for (let i = 6; i <= 7; i++) await shipper.append(new TextEncoder().encode(`w${i}`));
    await shipper.close();
    expect(await follower.catchUp((e) => void seen.push(text(e.payload)))).toBe(2);
    expect(seen).toEqual(['w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7']);
    expect(follower.applied.seq).toBe(7n);
  });
});

describe('compaction', () => {
  it('merges uploaded segments, preserving every entry and the chain', async () => {
    const leader = await tempDir();
    const storage = memStorage();
    await writeSegments(leader, 1, 24, 2); // 12 segments
    const up = await JournalUploader.open({ storage, prefix: PREFIX, db: DB, dir: leader });
    await up.uploadPending();
    const before = await readAll(leader);
    const result = await compactJournal({ dir: leader, uploader: up, threshold: 10 });
    expect(result).not.toBeNull();
    expect(result!.firstSeq).toBe(1n);
    expect(result!.lastSeq).toBe(22n);
    expect(result!.upload.outcome).toBe('replaced');
    // A fresh follower gets the compacted superset at key 1, skips covered keys, and sees everything.
    const follower = await tempDir();
    const got = await downloadNewSegments({ storage, prefix: PREFIX, db: DB, dir: follower, since: ZERO });
    expect(got.map((g) => [g.firstSeq, g.lastSeq])).toEqual([
      [1n, 22n],
      [23n, 24n],
    ]);
    const after = await readAll(follower);
    expect(after.map((e) => [e.seq, text(e.payload)])).toEqual(before.map((e) => [e.seq, text(e.payload)]));
    expect(after.map((e) => Buffer.from(e.prevHash).toString('hex'))).toEqual(
      before.map((e) => Buffer.from(e.prevHash).toString('hex')),
    );
    expect(await compactJournal({ dir: leader, uploader: up, threshold: 10 })).toBeNull();
  });
});
