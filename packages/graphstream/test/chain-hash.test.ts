import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeJournal } from '@hadb/changeset';
import { describe, expect, it } from 'vitest';
import {
  GraphstreamMetrics,
  JournalWriter,
  RECOVERY_FILE,
  isGraphstreamError,
  recoverJournal,
  segmentFileName,
} from '../src/index.js';
import { readAll, writeSegments } from './helpers/journal.js';
import { q, tempDir } from './helpers/tmp.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

async function trailerOf(path: string): Promise<string> {
  const bytes = await readFile(path);
  return hex(bytes.subarray(bytes.length - 32));
}

describe('chain hash trailer and recovery', () => {
  it('is written on seal, rotation and shutdown and equals the last entry hash', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir, fsyncMs: 0, segmentMaxBytes: 300 });
    const hashes: string[] = [];
    for (let i = 1; i <= 12; i++) hashes.push(hex((await w.append(q(i))).hash));
    const sealed = await w.sealForUpload(); // explicit seal
    await w.append(q(13));
    await w.close(); // shutdown seal
    const files = (await readdir(dir)).filter((n) => n.startsWith('journal-')).sort();
    expect(files.length).toBeGreaterThan(3); // rotations happened
    for (const f of files) {
      const seg = decodeJournal(await readFile(join(dir, f)));
      expect(seg.header.flags).toBe(0x0d);
      expect(hex(seg.chainHash)).toBe(await trailerOf(join(dir, f)));
    }
    expect(await trailerOf(sealed!.path)).toBe(hashes[11]);
    expect(await trailerOf(join(dir, files.at(-1)!))).toBe(hex((await recoverJournal(dir)).position.chainHash));
  });

  it('recovers in O(1) from the newest sealed header and trailer', async () => {
    const dir = await tempDir();
    await writeSegments(dir, 1, 30, 10);
    const r = await recoverJournal(dir);
    expect(r.method).toBe('sealed-trailer');
    expect(r.position.seq).toBe(30n);
    expect(hex(r.position.chainHash)).toBe(await trailerOf(join(dir, segmentFileName(21n))));
  });

  it('falls back to a full scan when the newest segment cannot be trusted by header', async () => {
    const dir = await tempDir();
    await writeSegments(dir, 1, 6, 3);
    const path = join(dir, segmentFileName(4n));
    // A sealed segment without the chain-hash flag: same entries, no O(1) path.
    const bytes = Uint8Array.from(await readFile(path));
    const seg = decodeJournal(bytes);
    const { encodeJournal, sealJournal } = await import('@hadb/changeset');
    const plain = encodeJournal(sealJournal(seg.entries, seg.header.prevSegmentChecksum));
    plain[6] = plain[6]! & ~0x08; // no HAS_CHAIN_HASH
    await writeFile(path, plain.subarray(0, plain.length - 32));
    const r = await recoverJournal(dir);
    expect(r.method).toBe('full-scan');
    expect(r.position.seq).toBe(6n);
    expect(hex(r.position.chainHash)).toBe(hex(seg.chainHash));
  });

  it('trusts recovery.json only when no segment exists, and ignores a corrupt one', async () => {
    const dir = await tempDir();
    await writeSegments(dir, 1, 5, 5);
    const saved = JSON.parse(await readFile(join(dir, RECOVERY_FILE), 'utf8')) as {
      last_seq: number;
      chain_hash: string;
    };
    expect(saved.last_seq).toBe(5);
    // With segments present, a lying recovery.json is not used.
    await writeFile(join(dir, RECOVERY_FILE), JSON.stringify({ last_seq: 99, chain_hash: 'ab'.repeat(32) }));
    expect((await recoverJournal(dir)).position.seq).toBe(5n);
    // Without segments (cleaned up after upload), it carries the position forward.
    await writeFile(join(dir, RECOVERY_FILE), JSON.stringify(saved));
    await rm(join(dir, segmentFileName(1n)));
    const r = await recoverJournal(dir);
    expect(r.method).toBe('recovery-file');
    expect(r.position.seq).toBe(5n);
    const w = await JournalWriter.open({ dir, fsyncMs: 0 });
    expect((await w.append(q(6))).seq).toBe(6n);
    await w.close();
    // Corrupt: ignored.
    const other = await tempDir();
    await writeFile(join(other, RECOVERY_FILE), '{"last_seq": 7, "chain_hash": "zz"');
    expect((await recoverJournal(other)).method).toBe('empty');
  });

  it('entries continue the chain across writer restarts', async () => {
    const dir = await tempDir();
    for (let round = 0; round < 3; round++) {
      const w = await JournalWriter.open({ dir, fsyncMs: 0 });
      for (let i = 0; i < 4; i++) await w.append(q(round * 4 + i + 1));
      if (round === 1) await w.sealForUpload();
      await w.close();
    }
    const all = await readAll(dir);
    expect(all.map((e) => Number(e.seq))).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });
});

describe('writer guards and metrics', () => {
  it('refuses a second live writer on the same directory and releases on close', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir });
    const err = await JournalWriter.open({ dir }).catch((e: unknown) => e);
    expect(isGraphstreamError(err, 'HADB_GRAPHSTREAM_LOCKED')).toBe(true);
    await w.close();
    const w2 = await JournalWriter.open({ dir });
    await w2.close();
    // A stale lock (dead process) is taken over.
    await writeFile(join(dir, 'writer.lock'), '999999999\n');
    await (await JournalWriter.open({ dir })).close();
  });

  it('rejects bad options and appends after close; a failing payload builder consumes no sequence', async () => {
    const dir = await tempDir();
    await expect(JournalWriter.open({ dir, fsyncMs: -1 })).rejects.toMatchObject({
      code: 'HADB_GRAPHSTREAM_INVALID_CONFIG',
    });
    await expect(JournalWriter.open({ dir, segmentMaxBytes: 10 })).rejects.toMatchObject({
      code: 'HADB_GRAPHSTREAM_INVALID_CONFIG',
    });
    await expect(JournalWriter.open({ dir, zstdLevel: 0 })).rejects.toMatchObject({
      code: 'HADB_GRAPHSTREAM_INVALID_CONFIG',
    });
    await expect(JournalWriter.open({ dir, writeBufferBytes: 0.5 })).rejects.toMatchObject({
      code: 'HADB_GRAPHSTREAM_INVALID_CONFIG',
    });
    const w = await JournalWriter.open({ dir, fsyncMs: 0 });
    await expect(
      w.appendWith(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect((await w.append(q(1))).seq).toBe(1n);
    await w.close();
    await expect(w.append(q(2))).rejects.toMatchObject({ code: 'HADB_GRAPHSTREAM_CLOSED' });
    expect((await stat(join(dir, segmentFileName(1n)))).size).toBeGreaterThan(128);
  });

  it('counts entries, fsyncs and segments and renders Prometheus text', async () => {
    const dir = await tempDir();
    const metrics = new GraphstreamMetrics();
    const w = await JournalWriter.open({ dir, fsyncMs: 0, metrics });
    for (let i = 1; i <= 3; i++) await w.append(q(i));
    await w.close();
    expect(metrics.get('entries_written')).toBe(3);
    expect(metrics.get('segments_sealed')).toBe(1);
    expect(metrics.get('fsyncs')).toBeGreaterThanOrEqual(1);
    const text = metrics.toPrometheus({ db: 'so"cial' });
    expect(text).toContain('# TYPE hadb_graphstream_entries_written_total counter');
    expect(text).toContain('hadb_graphstream_entries_written_total{db="so\\"cial"} 3');
    expect(text.endsWith('\n')).toBe(true);
  });
});
