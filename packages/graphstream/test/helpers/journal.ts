import type { StorageBackend } from '@hadb/storage';
import { MemStorageBackend } from '@hadb/storage-mem';
import { JournalShipper, JournalWriter, type ReplayEntry, replayJournal } from '../../src/index.js';
import { q, tempDir } from './tmp.js';

export const PREFIX = 'graphs/';
export const DB = 'social';

/** A shipper on `storage` under the test prefix and database, in a fresh directory, syncing fast, without a background tick. */
export async function testShipper(storage: StorageBackend): Promise<JournalShipper> {
  return JournalShipper.open({
    storage,
    prefix: PREFIX,
    db: DB,
    dir: await tempDir(),
    fsyncMs: 1,
    uploadIntervalMs: 0,
  });
}

export function memStorage(): MemStorageBackend {
  return new MemStorageBackend();
}

/** Writes entries `from..to` (payload `query_{n}`), sealing every `perSegment` entries. */
export async function writeSegments(dir: string, from: number, to: number, perSegment: number): Promise<void> {
  const w = await JournalWriter.open({ dir, fsyncMs: 0 });
  for (let n = from; n <= to; n++) {
    await w.append(q(n));
    if ((n - from + 1) % perSegment === 0) await w.sealForUpload();
  }
  await w.close();
}

export async function readAll(dir: string, fromSeq = 1n): Promise<ReplayEntry[]> {
  const out: ReplayEntry[] = [];
  await replayJournal(dir, (e) => void out.push(e), { fromSeq });
  return out;
}
