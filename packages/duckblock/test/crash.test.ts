import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DuckblockReplicator,
  applySegmentDurably,
  decodeSegment,
  incrementalKey,
  journalPath,
  positionPath,
  readPosition,
  recoverFile,
} from '../src/index.js';
import { openLeader, sha256File, sha256Leader, tempDir, testTerm } from './helpers.js';

const CHILD = fileURLToPath(new URL('./fixtures/apply-child.ts', import.meta.url));
const PKG = fileURLToPath(new URL('..', import.meta.url));
const TRIALS = 16;

/**
 * Starts the child, waits for "start" (or, with `afterJournal`, for the journal to appear, which
 * is when the pages start being written into the database), and kills it with SIGKILL after
 * `delayMs`. Resolves whether it was killed or finished first.
 */
function runAndKill(
  dbPath: string,
  segmentFile: string,
  delayMs: number,
  afterJournal: boolean,
  mode: 'memory' | 'stream',
): Promise<'killed' | 'finished'> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=hadb-source', '--import', 'tsx', CHILD, dbPath, segmentFile, mode],
      {
        cwd: PKG,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    let poll: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (timer !== undefined || poll !== undefined || !out.includes('start')) return;
      if (!afterJournal) {
        timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
        return;
      }
      poll = setInterval(() => {
        if (!existsSync(journalPath(dbPath))) return;
        clearInterval(poll);
        timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
      }, 0);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      if (poll !== undefined) clearInterval(poll);
      if (signal === 'SIGKILL') resolve('killed');
      else if (code === 0 && out.includes('done')) resolve('finished');
      else reject(new Error(`child exited ${code}: ${err}`));
    });
  });
}

describe('crash safety of the follower apply (kill -9 mid-apply)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let baseFile: string;
  let segmentFile: string;
  let hashN: string;
  let hashN1: string;
  let seqN: bigint;
  let applyMs = 50;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('crash'));
    const storage = new MemStorageBackend();
    const replicator = new DuckblockReplicator({
      storage,
      prefix: 'c/',
      snapshot: { intervalMs: 0, afterFileSizes: 0 },
    });
    const leaderPath = join(dir, 'leader.duckdb');
    baseFile = join(dir, 'base.duckdb');
    const leader = await openLeader(leaderPath);
    try {
      await leader.conn.run(`create table t as select range id, hash(range) h, random() r from range(2000000)`);
      await leader.conn.run('CHECKPOINT');
      await replicator.startLineage('db', leaderPath, testTerm('db', 1));
      seqN = await replicator.pull('db', baseFile);
      hashN = await sha256File(baseFile);
      // A multi-block step: rewrite a column of every row group.
      await leader.conn.run(`update t set h = h + 1 where id % 3 = 0`);
      await leader.conn.run('CHECKPOINT');
      const pushed = await replicator.pushCheckpoint('db');
      expect(pushed.blocks).toBeGreaterThan(20);
      hashN1 = await sha256Leader(leaderPath);
      segmentFile = join(dir, 'segment.hadbp');
      await writeFile(segmentFile, (await storage.get(incrementalKey('c/', 'db', pushed.seq)))!.data);
    } finally {
      leader.close();
    }
    // How long one apply takes here, to spread the kills over it.
    const probe = join(dir, 'probe.duckdb');
    await copyFile(baseFile, probe);
    await copyFile(positionPath(baseFile), positionPath(probe));
    const bytes = new Uint8Array(await readFile(segmentFile));
    const t0 = performance.now();
    await applySegmentDurably(probe, bytes, decodeSegment(bytes));
    applyMs = performance.now() - t0;
    expect(await sha256File(probe)).toBe(hashN1);
  });

  afterAll(async () => {
    await cleanup();
  });

  it(`recovers to exactly N or N+1 after SIGKILL at random points (${TRIALS} trials)`, async () => {
    const outcomes = { n: 0, n1: 0, killed: 0, tornBeforeRecovery: 0 };
    for (let i = 0; i < TRIALS; i++) {
      const path = join(dir, `trial-${i}.duckdb`);
      await copyFile(baseFile, path);
      await copyFile(positionPath(baseFile), positionPath(path));
      // Half the kills land anywhere from "immediately" to past the measured apply time, half
      // inside the window where pages are being written into the database file.
      const afterJournal = i % 2 === 1;
      // Alternate the in-memory apply and the streamed apply (two trials each per four).
      const mode = i % 4 < 2 ? 'memory' : 'stream';
      const delay = afterJournal ? Math.random() * Math.min(40, applyMs / 2) : Math.random() * applyMs * 1.5;
      const result = await runAndKill(path, segmentFile, delay, afterJournal, mode);
      if (result === 'killed') outcomes.killed++;
      const raw = await sha256File(path);
      if (raw !== hashN && raw !== hashN1) outcomes.tornBeforeRecovery++;
      const position = await recoverFile(path);
      const hash = await sha256File(path);
      expect([hashN, hashN1]).toContain(hash);
      if (hash === hashN) {
        outcomes.n++;
        expect(position?.seq).toBe(seqN);
      } else {
        outcomes.n1++;
        expect(position?.seq).toBe(seqN + 1n);
      }
      // After recovery the file is usable as a replication base again.
      expect((await readPosition(path))?.seq).toBe(position?.seq);
    }
    console.log(`crash trials: ${JSON.stringify(outcomes)}, apply ${applyMs.toFixed(0)} ms`);
    expect(outcomes.killed).toBeGreaterThan(0);
    expect(outcomes.n + outcomes.n1).toBe(TRIALS);
  }, 120_000);
});
