import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DuckblockReplicator,
  LOCAL_SUFFIXES,
  SegmentMarkers,
  block,
  isDuckblockError,
  newSegment,
  readMarker,
  removeLocalState,
} from '../src/index.js';
import { tempDir } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('one owner for markers, side files and options', () => {
  it('readMarker decodes the epoch and size markers; SegmentMarkers refuses a duplicate', () => {
    const seg = newSegment(1n, 0n, [block(5, new Uint8Array(4096).fill(1))], { epoch: 7n, fileSize: 8 * 4096 });
    const kinds = seg.pages.map(readMarker);
    expect(kinds).toContainEqual({ kind: 'epoch', epoch: 7n });
    expect(kinds).toContainEqual({ kind: 'size', fileSize: 8 * 4096 });
    expect(kinds.filter((k) => k.kind === 'data')).toHaveLength(1);
    const markers = new SegmentMarkers();
    for (const p of seg.pages) markers.take(p);
    expect([markers.epoch, markers.fileSize]).toEqual([7n, 8 * 4096]);
    const epochPage = seg.pages.find((p) => readMarker(p).kind === 'epoch')!;
    let err: unknown;
    try {
      markers.take(epochPage);
    } catch (e) {
      err = e;
    }
    expect(isDuckblockError(err, 'HADB_DUCKBLOCK_CORRUPT')).toBe(true);
  });

  it('removeLocalState removes every side file (the outgoing spill included) and keeps the database file', async () => {
    const dir = await tempDir('local-state');
    cleanups.push(dir.cleanup);
    const db = join(dir.dir, 'app.duckdb');
    await writeFile(db, 'db');
    const sides = Object.values(LOCAL_SUFFIXES).flatMap((s) => [db + s, `${db + s}.tmp`]);
    for (const f of sides) await writeFile(f, 'x');
    await removeLocalState(db);
    expect(sides.filter((f) => existsSync(f))).toEqual([]);
    expect(existsSync(db)).toBe(true);
  });

  it('reports bad options as HADB_DUCKBLOCK_INVALID_CONFIG instead of clamping them', () => {
    const storage = new MemStorageBackend();
    for (const bad of [
      { downloadConcurrency: 0 },
      { retention: { keepSnapshots: 0 } },
      { listIntervalMs: -1 },
      { uploadRetries: 1.5 },
      { prefix: 'x' },
    ]) {
      let err: unknown;
      try {
        new DuckblockReplicator({ storage, ...(bad as object) });
      } catch (e) {
        err = e;
      }
      expect(isDuckblockError(err, 'HADB_DUCKBLOCK_INVALID_CONFIG'), JSON.stringify(bad)).toBe(true);
    }
  });
});
