// Bench of @hadb/duckblock on a real DuckDB database of more than 1 GiB: bytes shipped and time
// per checkpoint beside a naive full-file upload of the same state, follower apply speed beside
// raw pwrite+fsync of the same bytes, and the peak RSS of streaming a 2 GiB snapshot.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { TermFence, systemClock } from '@hadb/core';
import { LocalStorageBackend } from '@hadb/storage-local';
import type { BenchContext } from '../../../scripts/bench-types.js';
import {
  DuckblockReplicator,
  decodeSegment,
  incrementalKey,
  leaderFileHandle,
  releaseLeaderFile,
  writePages,
} from '../src/index.js';

const run_ = promisify(execFile);
const ROWS = 58_000_000; // about 1.1 GiB
const BLOCK = 262_144;

async function blockHashes(path: string, leader = true): Promise<{ header: string[]; blocks: string[]; size: number }> {
  // A leader's file is read through duckblock's long-lived handle: closing a descriptor would
  // drop DuckDB's lock. A follower's file is not open in DuckDB.
  const handle = leader ? await leaderFileHandle(path) : await open(path, 'r');
  try {
    return await hashWith(handle);
  } finally {
    if (!leader) await handle.close();
  }
}

async function hashWith(
  handle: import('node:fs/promises').FileHandle,
): Promise<{ header: string[]; blocks: string[]; size: number }> {
  const { size } = await handle.stat();
  const header: string[] = [];
  const blocks: string[] = [];
  const head = Buffer.alloc(12_288);
  await handle.read(head, 0, head.length, 0);
  for (let p = 0; p < 3; p++)
    header.push(
      createHash('sha1')
        .update(head.subarray(p * 4096, (p + 1) * 4096))
        .digest('hex'),
    );
  // Block-aligned reads of 32 blocks (8 MiB) at a time.
  const buf = Buffer.alloc(32 * BLOCK);
  for (let off = 12_288; off < size; off += buf.length) {
    const want = Math.min(buf.length, size - off);
    let got = 0;
    while (got < want) got += (await handle.read(buf, got, want - got, off + got)).bytesRead;
    for (let o = 0; o < want; o += BLOCK)
      blocks.push(
        createHash('sha1')
          .update(buf.subarray(o, Math.min(o + BLOCK, want)))
          .digest('hex'),
      );
  }
  return { header, blocks, size };
}

function changed(
  a: { header: string[]; blocks: string[] },
  b: { header: string[]; blocks: string[] },
): { blocks: number; headerPages: number } {
  let headerPages = 0;
  for (let i = 0; i < 3; i++) if (a.header[i] !== b.header[i]) headerPages++;
  let blocks = 0;
  for (let i = 0; i < b.blocks.length; i++) if (a.blocks[i] !== b.blocks[i]) blocks++;
  return { blocks, headerPages };
}

async function naiveUpload(
  storage: LocalStorageBackend,
  key: string,
  path: string,
): Promise<{ ms: number; bytes: number }> {
  const handle = await leaderFileHandle(path);
  const { size } = await handle.stat();
  const t0 = performance.now();
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (let off = 0; off < size; off += 4 << 20) {
      const buf = new Uint8Array(Math.min(4 << 20, size - off));
      let done = 0;
      while (done < buf.length) done += (await handle.read(buf, done, buf.length - done, off + done)).bytesRead;
      yield buf;
    }
  }
  await storage.putStream(key, chunks(), { contentLength: size });
  return { ms: performance.now() - t0, bytes: size };
}

export async function run(ctx: BenchContext): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'duckblock-bench-'));
  const leaderPath = join(dir, 'leader.duckdb');
  const followerPath = join(dir, 'follower.duckdb');
  const storage = await LocalStorageBackend.open({ root: join(dir, 'bucket'), fsync: false });
  const replicator = new DuckblockReplicator({ storage, prefix: 'b/', snapshot: { intervalMs: 0, afterFileSizes: 0 } });
  const instance = await DuckDBInstance.create(leaderPath, { checkpoint_threshold: '100GB' });
  const conn = await instance.connect();
  try {
    let t0 = performance.now();
    await conn.run(
      `create table big as select range::BIGINT id, hash(range) h, hash(range + 1) h2, (range % 1000)::INTEGER g from range(${ROWS})`,
    );
    await conn.run('CHECKPOINT');
    const size0 = (await stat(leaderPath)).size;
    ctx.record(
      'database size',
      size0 / 2 ** 20,
      'MiB',
      `${ROWS / 1e6}M rows, generated in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    );

    const fence = new TermFence({
      db: 'big',
      epoch: 1,
      clock: systemClock,
      sentAt: systemClock.now(),
      windowMs: Infinity,
    });
    t0 = performance.now();
    await replicator.startLineage('big', leaderPath, {
      db: 'big',
      epoch: 1,
      instanceId: 'bench',
      sessionId: 'bench',
      fence,
    });
    const addMs = performance.now() - t0;
    ctx.record(
      'initial snapshot upload (streamed)',
      size0 / 2 ** 20 / (addMs / 1000),
      'MB/s',
      `${(addMs / 1000).toFixed(1)} s`,
    );
    t0 = performance.now();
    await replicator.pull('big', followerPath);
    const restoreMs = performance.now() - t0;
    ctx.record(
      'follower restore from snapshot',
      size0 / 2 ** 20 / (restoreMs / 1000),
      'MB/s',
      `${(restoreMs / 1000).toFixed(1)} s, fsynced`,
    );

    let before = await blockHashes(leaderPath);
    const scenarios: Array<[string, string]> = [
      ['1-row update', `update big set h = 0 where id = 31337`],
      ['1,000-row insert', `insert into big select range, hash(range), 0, 1 from range(${ROWS}, ${ROWS + 1000})`],
      ['1% scattered update', `update big set h2 = h2 + 1 where id % 100 = 42`],
    ];
    for (const [name, sql] of scenarios) {
      await conn.run(sql);
      await conn.run('CHECKPOINT');
      const after = await blockHashes(leaderPath);
      const truth = changed(before, after);
      await run_('sync');
      t0 = performance.now();
      const pushed = await replicator.pushCheckpoint('big');
      const pushMs = performance.now() - t0;
      // Follower apply (download, verify, journal, pwrite, size, fsync, position) vs raw
      // pwrite+fsync of the same pages, measured with no other writeback in flight.
      await run_('sync');
      t0 = performance.now();
      const pulled = await replicator.pullDetailed('big', followerPath);
      const applyMs = performance.now() - t0;
      const seg = decodeSegment((await storage.get(incrementalKey('b/', 'big', pushed.seq)))!.data);
      const scratch = await open(join(dir, 'scratch'), 'w+');
      await scratch.truncate(after.size);
      await run_('sync');
      t0 = performance.now();
      await writePages(scratch, seg.pages);
      await scratch.sync();
      const rawMs = performance.now() - t0;
      await scratch.close();
      await rm(join(dir, 'scratch'));
      const mb = pulled.bytes / 2 ** 20;

      const naive = await naiveUpload(storage, `naive/${name}`, leaderPath);
      await storage.delete(`naive/${name}`);
      await run_('sync');
      const payload = truth.blocks * BLOCK + truth.headerPages * 4096;
      ctx.record(
        `${name}: bytes shipped`,
        pushed.bytes / 2 ** 20,
        'MiB',
        `${pushed.blocks} blocks + ${pushed.headerPages} header page(s)`,
      );
      ctx.record(
        `${name}: bytes shipped / (changed blocks x 256 KiB + changed header bytes)`,
        pushed.bytes / payload,
        'ratio',
        `goal <= 1.02; ${truth.blocks} blocks changed (full compare)`,
      );
      ctx.record(
        `${name}: naive full-file upload / bytes shipped`,
        naive.bytes / pushed.bytes,
        'ratio',
        `${(naive.bytes / 2 ** 20).toFixed(0)} MiB naive`,
      );
      ctx.record(`${name}: pushCheckpoint time`, pushMs, 'ms', 'scan + read + verify + encode + upload + position');
      ctx.record(
        `${name}: naive full-file upload time / pushCheckpoint time`,
        naive.ms / pushMs,
        'ratio',
        `${naive.ms.toFixed(0)} ms naive`,
      );
      ctx.record(
        `${name}: follower apply`,
        mb / (applyMs / 1000),
        'MB/s',
        `${applyMs.toFixed(0)} ms incl. download, verify, journal and fsyncs`,
      );
      ctx.record(`${name}: raw pwrite+fsync of the same pages`, mb / (rawMs / 1000), 'MB/s', `${rawMs.toFixed(0)} ms`);
      ctx.record(
        `${name}: follower apply / raw pwrite+fsync time`,
        applyMs / rawMs,
        'ratio',
        'journalled apply writes the bytes twice and fsyncs 5 times',
      );
      const follower = await blockHashes(followerPath, false);
      const same =
        follower.size === after.size &&
        changed(after, follower).blocks === 0 &&
        changed(after, follower).headerPages === 0;
      if (!same) throw new Error(`${name}: follower file differs from the leader's`);
      before = after;
    }

    // A 2 GiB database for the memory bound of a streamed snapshot.
    await conn.run(`create table big2 as select * from big where id < ${Math.floor(ROWS * 0.9)}`);
    await conn.run('CHECKPOINT');
  } finally {
    conn.closeSync();
    instance.closeSync();
    await releaseLeaderFile(leaderPath);
  }
  const size2 = (await stat(leaderPath)).size;
  const child = fileURLToPath(new URL('./rss-child.ts', import.meta.url));
  const cwd = fileURLToPath(new URL('..', import.meta.url));
  const args = ['--conditions=hadb-source', '--import', 'tsx', child, leaderPath, join(dir, 'rss-bucket')];
  const base = JSON.parse((await run_(process.execPath, [...args, 'baseline'], { cwd })).stdout) as {
    maxRssKiB: number;
  };
  const snap = JSON.parse((await run_(process.execPath, args, { cwd, maxBuffer: 1 << 20 })).stdout) as {
    maxRssKiB: number;
    bytes: number;
    ms: number;
  };
  ctx.record(
    `peak RSS streaming a ${(size2 / 2 ** 30).toFixed(2)} GiB snapshot (child process)`,
    snap.maxRssKiB / 1024,
    'MiB',
    `goal < 256 MiB; module baseline ${(base.maxRssKiB / 1024).toFixed(0)} MiB; ${(snap.bytes / 2 ** 20 / (snap.ms / 1000)).toFixed(0)} MB/s`,
  );
  await storage.close();
  await rm(dir, { recursive: true, force: true });
}
