import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StorageBackend } from '@hadb/storage';
import { LocalStorageBackend } from '@hadb/storage-local';
import { holdReads, tapStreams } from '@hadb/testkit/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadingStorage } from '../src/download.js';

const CHUNK = 4096;
const KEY = 'objects/big';

/**
 * `storage` whose ranged `getStream` calls starting at a `held` offset never answer until their
 * signal aborts, and whose call at `failAt` fails at once.
 */
function wrapped(storage: StorageBackend, held: (start: number) => boolean, failAt = -1) {
  const h = holdReads(storage, (op, _key, o) => op === 'getStream' && (o?.start ?? 0) > 0 && held(o!.start!));
  const failing = tapStreams(h.storage, {
    onRange: (o) => {
      if (o?.start === failAt) throw new Error('injected');
    },
  });
  return { storage: failing, signals: h.signals };
}

describe('downloadingStorage: parallel ranged reads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hadb-cli-download-'));
  let storage: StorageBackend;
  const data = new Uint8Array(CHUNK * 10).map((_, i) => (i * 7) % 251);

  beforeAll(async () => {
    storage = await LocalStorageBackend.open({ root: dir });
    await storage.put(KEY, data);
  });

  afterAll(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('yields the object in order', async () => {
    const s = await downloadingStorage(storage, { parallel: 4, chunkBytes: CHUNK }).getStream(KEY);
    const parts: Uint8Array[] = [];
    for await (const c of s!.body) parts.push(c);
    expect(Buffer.concat(parts).equals(Buffer.from(data))).toBe(true);
  });

  it('cancels the ranges in flight when the consumer stops early', async () => {
    const w = wrapped(storage, () => true);
    const s = await downloadingStorage(w.storage, { parallel: 4, chunkBytes: CHUNK }).getStream(KEY);
    for await (const c of s!.body) {
      expect(c.length).toBeGreaterThan(0);
      break;
    }
    expect(w.signals.length).toBe(3);
    for (const signal of w.signals) expect(signal?.aborted).toBe(true);
  });

  it('cancels the other ranges in flight when one fails', async () => {
    const w = wrapped(storage, (start) => start !== CHUNK, CHUNK);
    const s = await downloadingStorage(w.storage, { parallel: 4, chunkBytes: CHUNK }).getStream(KEY);
    const read = async (): Promise<void> => {
      for await (const _ of s!.body) {
        // consume
      }
    };
    await expect(read()).rejects.toThrow('injected');
    expect(w.signals.length).toBe(3);
    for (const signal of w.signals) expect(signal?.aborted).toBe(true);
  });
});
