import { systemClock } from '@hadb/io';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeJournal } from '@hadb/changeset';
import { describe, expect, it } from 'vitest';
import {
  JournalWriter,
  decodePayload,
  param,
  recoverJournal,
  replayJournal,
  segmentFileName,
  type ReplayEntry,
} from '../src/index.js';
import { q, tempDir, text } from './helpers/tmp.js';

async function replayAll(dir: string, fromSeq = 1n): Promise<ReplayEntry[]> {
  const out: ReplayEntry[] = [];
  await replayJournal(dir, (e) => void out.push(e), { fromSeq });
  return out;
}

describe('journal writer', () => {
  it('writes and reads back entries in order', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir, fsyncMs: 5 });
    const results = await Promise.all([1, 2, 3].map((n) => w.append(q(n))));
    expect(results.map((r) => r.seq)).toEqual([1n, 2n, 3n]);
    expect(w.durableSeq).toBe(3n);
    const read = await replayAll(dir);
    expect(read.map((e) => text(e.payload))).toEqual(['query_1', 'query_2', 'query_3']);
    await w.close();
  });

  it('chains hashes as SHA-256(prev || payload) (upstream vectors)', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir, fsyncMs: 0 });
    const a = await w.append(q(1));
    const b = await w.append(q(2));
    expect(Buffer.from(a.hash).toString('hex')).toBe(
      'bea52bdef4f3e8a027bdf2102c115c3dc88a8ceb9fb1dd5155ad98025895df77',
    );
    expect(Buffer.from(b.hash).toString('hex')).toBe(
      '11d6af76ae99f98a83b33f8d96293170960366ec15bdd76b52121ac487e7f500',
    );
    await w.close();
  });

  it('seals on close: zstd-compressed (flags 0x0d) with a chain-hash trailer', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir, fsyncMs: 5 });
    for (let i = 1; i <= 20; i++) void w.append(q(i));
    await w.close();
    const bytes = await readFile(join(dir, segmentFileName(1n)));
    expect(bytes[6]).toBe(0x0d);
    const seg = decodeJournal(bytes);
    expect(seg.entries).toHaveLength(20);
    expect(seg.header.firstSeq).toBe(1n);
    expect(seg.header.lastSeq).toBe(20n);
  });

  it('recovers the sequence and chain after reopen', async () => {
    const dir = await tempDir();
    const w1 = await JournalWriter.open({ dir, fsyncMs: 5 });
    for (let i = 1; i <= 5; i++) await w1.append(q(i));
    const pos = w1.position;
    await w1.close();
    const w2 = await JournalWriter.open({ dir, fsyncMs: 5 });
    expect(w2.position.seq).toBe(5n);
    expect(Buffer.from(w2.position.chainHash)).toEqual(Buffer.from(pos.chainHash));
    expect((await w2.append(q(6))).seq).toBe(6n);
    await w2.close();
    expect((await replayAll(dir)).map((e) => e.seq)).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
  });

  it('rotates at segmentMaxBytes and every entry survives', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir, fsyncMs: 2, segmentMaxBytes: 1024 });
    const payload = new Uint8Array(200).fill(7);
    const all = [];
    for (let i = 0; i < 40; i++) all.push(w.append(payload));
    await Promise.all(all);
    await w.close();
    const names = (await readdir(dir)).filter((n) => n.startsWith('journal-')).sort();
    expect(names.length).toBeGreaterThan(5);
    for (const n of names) expect((await stat(join(dir, n))).size).toBeLessThanOrEqual(1024);
    expect((await replayAll(dir)).map((e) => Number(e.seq))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('sealForUpload seals the live segment and acknowledges its entries', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir, fsyncMs: 10_000 });
    const p = w.append(q(1));
    const sealed = await w.sealForUpload();
    await expect(p).resolves.toMatchObject({ seq: 1n });
    expect(sealed?.firstSeq).toBe(1n);
    expect(sealed?.lastSeq).toBe(1n);
    expect(await w.sealForUpload()).toBeNull();
    const p2 = w.append(q(2));
    await w.flush();
    await p2;
    expect((await readdir(dir)).filter((n) => n.startsWith('journal-')).sort()).toEqual([
      segmentFileName(1n),
      segmentFileName(2n),
    ]);
    await w.close();
  });

  it('handles large entries (bigger than a segment)', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir, fsyncMs: 1, segmentMaxBytes: 4096 });
    const big = new Uint8Array(100_000).map((_, i) => i % 251);
    await w.append(q(1));
    await w.append(big);
    await w.append(q(3));
    await w.close();
    const read = await replayAll(dir);
    expect(read.map((e) => e.payload.length)).toEqual([7, 100_000, 7]);
    expect(Buffer.from(read[1]!.payload)).toEqual(Buffer.from(big));
  });

  it('journals queries with every parameter type', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir, fsyncMs: 1, clock: { ...systemClock, wallMs: () => 1_700_000_000_000 } });
    const params = [
      ['n', param.null()],
      ['b', param.bool(true)],
      ['i', param.int(-9)],
      ['f', param.float(2.5)],
      ['s', param.string('x')],
      ['y', param.bytes(new Uint8Array([1, 2]))],
      ['l', param.list([param.int(1)])],
      ['m', param.map({ k: param.string('v') })],
      ['d', param.date('2024-01-01')],
      ['t', param.time('10:00:00Z')],
      ['lt', param.localTime('10:00:00')],
      ['dt', param.dateTime('2024-01-01T10:00:00Z')],
      ['ldt', param.localDateTime('2024-01-01T10:00:00')],
      ['du', param.duration('PT1H')],
      ['p', param.point(4326, 1, 2)],
    ] as const;
    await w.appendQuery('CREATE (:N $props)', params);
    await w.close();
    const [entry] = await replayAll(dir);
    const payload = decodePayload(entry!.payload);
    expect(payload).toEqual({ sequence: 1n, query: 'CREATE (:N $props)', params, timestampMs: 1_700_000_000_000n });
  });

  it('replays from any sequence across segments', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir, fsyncMs: 1, segmentMaxBytes: 512 });
    for (let i = 1; i <= 30; i++) void w.append(q(i));
    await w.flush();
    await w.close();
    for (const from of [1n, 2n, 13n, 29n, 30n]) {
      const got = await replayAll(dir, from);
      expect(got[0]?.seq).toBe(from);
      expect(got.at(-1)?.seq).toBe(30n);
    }
    expect(await replayAll(dir, 31n)).toEqual([]);
  });

  it('acknowledges only after fsync: nothing resolves before the batch interval', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir, fsyncMs: 200 });
    let done = false;
    const p = w.append(q(1)).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    expect(w.metrics.get('fsyncs')).toBe(0);
    await p;
    expect(w.metrics.get('fsyncs')).toBe(1);
    await w.close();
  });

  it('recovery reports how it found the position', async () => {
    const dir = await tempDir();
    expect((await recoverJournal(dir)).method).toBe('empty');
    const w = await JournalWriter.open({ dir, fsyncMs: 1 });
    await w.append(q(1));
    expect((await recoverJournal(dir)).method).toBe('live-scan');
    await w.close();
    expect((await recoverJournal(dir)).method).toBe('sealed-trailer');
  });
});
