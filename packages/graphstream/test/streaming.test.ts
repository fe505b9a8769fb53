import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeJournal } from '@hadb/changeset';
import { gc } from '@hadb/testkit';
import { describe, expect, it } from 'vitest';
import { JournalWriter, isGraphstreamError, segmentFileName, verifySegmentStream } from '../src/index.js';
import { readAll } from './helpers/journal.js';
import { tempDir, text } from './helpers/tmp.js';

describe('streaming read', () => {
  it('streams 1000 compressed entries in small chunks, verifying as it goes', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir, fsyncMs: 0, segmentMaxBytes: 64 * 1024 * 1024 });
    const acks = [];
    for (let i = 1; i <= 1000; i++) acks.push(w.append(new TextEncoder().encode(`entry ${i} ${'z'.repeat(i % 50)}`)));
    await Promise.all(acks);
    await w.close();
    const path = join(dir, segmentFileName(1n));
    const seen: bigint[] = [];
    const summary = await verifySegmentStream(createReadStream(path, { highWaterMark: 97 }), {
      onEntry: (e) => void seen.push(e.seq),
    });
    expect(summary.entryCount).toBe(1000);
    expect(seen).toHaveLength(1000);
    expect(summary.header.flags).toBe(0x0d);
    const whole = decodeJournal(await readFile(path));
    expect(Buffer.from(summary.chainHash)).toEqual(Buffer.from(whole.chainHash));
  });

  it('reads across many segments in order', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir, fsyncMs: 0, segmentMaxBytes: 2048 });
    const acks = [];
    for (let i = 1; i <= 500; i++) acks.push(w.append(new TextEncoder().encode(`e${i}`)));
    await Promise.all(acks);
    await w.close();
    const all = await readAll(dir);
    expect(all.map((e) => text(e.payload))).toEqual(Array.from({ length: 500 }, (_, i) => `e${i + 1}`));
  });

  it('rejects truncated, padded and bit-flipped streams', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir, fsyncMs: 0 });
    for (let i = 0; i < 20; i++) await w.append(new TextEncoder().encode(`x${i}`));
    await w.close();
    const good = await readFile(join(dir, segmentFileName(1n)));
    const variants = [good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.of(0)]), good.subarray(0, 100)];
    for (const at of [7, 20, 130, good.length - 5]) {
      const bad = Buffer.from(good);
      bad[at] = bad[at]! ^ 1;
      variants.push(bad);
    }
    for (const [i, v] of variants.entries()) {
      const err = await verifySegmentStream(
        (async function* () {
          yield v;
        })(),
      ).catch((e: unknown) => e);
      expect(isGraphstreamError(err, 'HADB_GRAPHSTREAM_INVALID_SEGMENT'), `variant ${i}`).toBe(true);
    }
  });

  it('keeps memory bounded while streaming a large segment', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir, fsyncMs: 0, segmentMaxBytes: 256 * 1024 * 1024 });
    const chunk = new Uint8Array(64 * 1024).map((_, i) => (i * 7919) % 256);
    const acks = [];
    for (let i = 0; i < 600; i++) acks.push(w.append(chunk)); // ~38 MiB raw
    await Promise.all(acks);
    await w.close();
    // Sampled right after a forced GC every 16 entries (1 MiB); testkit's gc() frees collected
    // buffers before it returns. A reader that retained entries would grow to ~38 MiB by the end,
    // so every sample of the last quarter would be far above the bound.
    gc();
    const before = process.memoryUsage().arrayBuffers;
    const samples: number[] = [];
    let seen = 0;
    await verifySegmentStream(createReadStream(join(dir, segmentFileName(1n))), {
      onEntry: () => {
        if (++seen % 16 !== 0) return;
        gc();
        samples.push(process.memoryUsage().arrayBuffers - before);
      },
    });
    expect(seen).toBe(600);
    const lastQuarter = samples.slice(-Math.ceil(samples.length / 4));
    expect(Math.min(...lastQuarter)).toBeLessThan(16 * 1024 * 1024);
  }, 60_000);
});
