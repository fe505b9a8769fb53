import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { HaDuck } from '../src/index.js';
import { Cluster } from '../test/helpers.js';

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

/** Two nodes in one process on local storage: commit-to-visible lag and follower reads/s. */
async function lagAndReads(ctx: BenchContext): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'haduck-bench-'));
  const storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
  const lease = new StorageLeaseStore(storage, { prefix: 'leases/' });
  const common = {
    name: 'bench',
    storage,
    lease: { store: lease, ttlMs: 2000, renewIntervalMs: 800, pollIntervalMs: 400, skewMarginMs: 400 },
    checkpointIntervalMs: 1000,
    followerPullIntervalMs: 50,
  };
  const leader = await HaDuck.open({ ...common, path: join(dir, 'a.duckdb'), instanceId: 'a' });
  await leader.execute('CREATE TABLE t (seq BIGINT, v VARCHAR)');
  await leader.execute("INSERT INTO t SELECT -i, 'x' || i FROM range(1000000) r(i)");
  await leader.sync();
  const follower = await HaDuck.open({ ...common, path: join(dir, 'b.duckdb'), instanceId: 'b' });
  try {
    // Writer: 50 commits/s for 12 s; a poller on the follower notes when each becomes visible.
    const committedAt = new Map<number, number>();
    const lags: number[] = [];
    let seq = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        const s = ++seq;
        await leader.execute('INSERT INTO t VALUES ($1, $2)', [s, 'row']);
        committedAt.set(s, performance.now());
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    let seen = 0;
    let reads = 0;
    const readStart = performance.now();
    const end = readStart + 12_000;
    while (performance.now() < end) {
      const r = await follower.query('SELECT max(seq) FROM t');
      reads++;
      const max = Number(r.rows[0]?.[0] ?? 0);
      const now = performance.now();
      for (let s = seen + 1; s <= max; s++) {
        const c = committedAt.get(s);
        if (c !== undefined) lags.push(now - c);
      }
      if (max > seen) seen = max;
    }
    const readSecs = (performance.now() - readStart) / 1000;
    writing = false;
    await writer;
    lags.sort((x, y) => x - y);
    ctx.record(
      'commit-to-visible lag p50 (1 s checkpoints, local storage)',
      Math.round(pct(lags, 50)),
      'ms',
      `${lags.length} commits (${(lags.length / 12).toFixed(0)}/s, one writer with 20 ms pauses)`,
    );
    ctx.record('commit-to-visible lag p99 (1 s checkpoints, local storage)', Math.round(pct(lags, 99)), 'ms');
    ctx.record(
      'follower point reads/s during continuous apply',
      Math.round(reads / readSecs),
      'reads/s',
      'SELECT max(seq) over 1M rows, one reader',
    );
    const pauses = [...follower.readPauses()].sort((x, y) => x - y);
    ctx.record('follower read pause per swap p50', Number(pct(pauses, 50).toFixed(1)), 'ms', `${pauses.length} swaps`);
    ctx.record('follower read pause per swap max', Number((pauses.at(-1) ?? 0).toFixed(1)), 'ms');
    ctx.record(
      'bytes shipped per checkpoint (50 small commits)',
      Math.round(leader.stats().bytesShipped / Math.max(1, leader.stats().checkpoints)),
      'bytes',
    );
  } finally {
    await follower.close();
    await leader.close();
    await lease.close();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** SIGKILL the leader process; time until the follower process reports promotion (3 runs). */
async function failover(ctx: BenchContext): Promise<void> {
  const times: number[] = [];
  for (let run = 0; run < 3; run++) {
    const cluster = new Cluster();
    try {
      const a = cluster.start('a');
      await a.waitFor((e) => e.event === 'open');
      await a.call('execute', { sql: 'CREATE TABLE rows (writer VARCHAR, seq BIGINT)', durability: 'shipped' });
      const b = cluster.start('b');
      await b.waitFor((e) => e.event === 'open');
      await new Promise((r) => setTimeout(r, 500));
      const killed = Date.now();
      a.kill();
      const promoted = await b.waitFor((e) => e.event === 'promoted');
      void promoted;
      times.push(Date.now() - killed);
    } finally {
      await cluster.dispose();
    }
  }
  times.sort((x, y) => x - y);
  ctx.record(
    'failover: leader SIGKILL to follower promoted (2 s TTL)',
    times[1]!,
    'ms',
    `median of 3: ${times.join(', ')} ms`,
  );
}

export async function run(ctx: BenchContext): Promise<void> {
  await lagAndReads(ctx);
  await failover(ctx);
}
