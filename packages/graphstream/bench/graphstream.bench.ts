import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStorageBackend } from '@hadb/storage-local';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { JournalUploader, JournalWriter, downloadNewSegments, param, replayJournal } from '../src/index.js';

const ENTRIES = 50_000;

export async function run(ctx: BenchContext): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'gs-bench-'));
  try {
    const journal = join(work, 'journal');
    const params = [
      ['name', param.string('person-000000')],
      ['age', param.int(42)],
      ['score', param.float(0.5)],
    ] as const;

    // 1. Appends with fsync batching (100 ms default): N appends in flight, each awaited to its ack.
    const w = await JournalWriter.open({ dir: journal });
    let t = performance.now();
    const acks = [];
    for (let i = 0; i < ENTRIES; i++)
      acks.push(w.appendQuery('CREATE (:Person {name: $name, age: $age, score: $score})', params));
    await Promise.all(acks);
    const writeMs = performance.now() - t;
    await w.close();
    ctx.record(
      'append entries/s (fsync batching 100 ms, acknowledged)',
      Math.round(ENTRIES / (writeMs / 1000)),
      'entries/s',
      `${ENTRIES} entries incl. seals, ${w.metrics.get('fsyncs')} fsyncs`,
    );

    // Sequential appends: each awaited before the next (a single client), fsyncMs 0 (group commit).
    const w0 = await JournalWriter.open({ dir: join(work, 'seq') });
    const SEQ = 100;
    t = performance.now();
    for (let i = 0; i < SEQ; i++) await w0.appendQuery('CREATE (:P)', []);
    const seqMs = performance.now() - t;
    await w0.close();
    ctx.record('sequential awaited append latency (fsyncMs 100)', seqMs / SEQ, 'ms', 'one client waiting for each ack');
    const w1 = await JournalWriter.open({ dir: join(work, 'seq0'), fsyncMs: 0 });
    t = performance.now();
    for (let i = 0; i < SEQ; i++) await w1.appendQuery('CREATE (:P)', []);
    const seq0Ms = performance.now() - t;
    await w1.close();
    ctx.record('sequential awaited append latency (fsyncMs 0)', seq0Ms / SEQ, 'ms', 'one fdatasync per append');

    // 2. Upload to storage-local.
    const storage = await LocalStorageBackend.open({ root: join(work, 'bucket') });
    const up = await JournalUploader.open({ storage, prefix: 'bench/', db: 'g', dir: journal });
    t = performance.now();
    const results = await up.uploadPending();
    const upMs = performance.now() - t;
    const bytes = results.reduce((a, r) => a + r.bytes, 0);
    ctx.record(
      'upload MB/s (storage-local, verified, 4 concurrent)',
      bytes / 1e6 / (upMs / 1000),
      'MB/s',
      `${results.length} segments, ${(bytes / 1e6).toFixed(1)} MB compressed`,
    );
    ctx.record(
      'upload entries/s (storage-local, full decode before upload)',
      Math.round(ENTRIES / (upMs / 1000)),
      'entries/s',
    );

    // 3. Download (verify) + replay.
    const follower = join(work, 'follower');
    t = performance.now();
    await downloadNewSegments({
      storage,
      prefix: 'bench/',
      db: 'g',
      dir: follower,
      since: { seq: 0n, chainHash: new Uint8Array(32) },
    });
    const dlMs = performance.now() - t;
    ctx.record('download + verify entries/s (storage-local)', Math.round(ENTRIES / (dlMs / 1000)), 'entries/s');
    t = performance.now();
    let n = 0;
    await replayJournal(follower, () => {
      n++;
    });
    const replayMs = performance.now() - t;
    if (n !== ENTRIES) throw new Error(`replayed ${n} of ${ENTRIES}`);
    ctx.record('replay entries/s (streaming zstd, verified)', Math.round(ENTRIES / (replayMs / 1000)), 'entries/s');
    await storage.close();
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
