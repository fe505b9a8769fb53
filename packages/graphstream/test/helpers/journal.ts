import { MemStorageBackend } from '@hadb/storage-mem';
import { JournalWriter, type ReplayEntry, replayJournal } from '../../src/index.js';
import { q } from './tmp.js';

export const PREFIX = 'graphs/';
export const DB = 'social';

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
