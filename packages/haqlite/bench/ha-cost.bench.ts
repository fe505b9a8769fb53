// `pnpm bench ha-cost`: what a HaQLite leader + follower pair costs in storage requests (idle, 1
// write/s), `shipped` writes beside a raw SQLite commit + one PUT, 16 concurrent `shipped` writers
// beside `committed`, commit → visible. Storage: a local directory. See scripts/bench-ha-cost.ts.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StorageLeaseStore } from '@hadb/lease';
import { S3_LEASE_TIMING } from '@hadb/lease-s3';
import { LocalStorageBackend } from '@hadb/storage-local';
import { countRequests, dollarsPerMonth } from '@hadb/testkit/storage';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { FAST_LEASE_TIMING, runCostBench, type CostAdapter, type RawSample } from '../../../scripts/bench-ha-cost.js';
import { HaQLite } from '../src/index.js';

export async function run(ctx: BenchContext): Promise<void> {
  const adapter: CostAdapter<LocalStorageBackend, StorageLeaseStore> = {
    engine: 'haqlite',
    deps: {
      openStorage: (root) => LocalStorageBackend.open({ root }),
      // The lease in (counted) storage, made to behave as S3LeaseStore: its recommended timing (the
      // nodes set none, so the "lease in S3" rows measure the S3 defaults) and a server time,
      // which makes the leader read its record back after each renewal (clock-rate check).
      leaseIn: (storage) =>
        new StorageLeaseStore(storage, {
          prefix: 'leases/',
          recommendedTiming: S3_LEASE_TIMING,
          serverTimeResolutionMs: 1000,
        }),
      countRequests,
      dollarsPerMonth,
    },
    suffix: '.db',
    createTable: 'CREATE TABLE t (id INTEGER, v TEXT)',
    insert: 'INSERT INTO t VALUES (?, ?)',
    rawLabel: 'INSERT (WAL, synchronous FULL) + one PUT',
    rawShipLabel: 'one PUT',
    async open({ leaseTiming, ...o }) {
      const node = await HaQLite.open({ ...o, lease: { store: o.lease, ...leaseTiming }, name: 'cost' });
      return {
        execute: (sql, args, w) => node.execute(sql, args as never, w),
        count: async () => Number((await node.query('SELECT count(*) FROM t')).rows[0]?.[0] ?? 0),
        on: (event, fn) => node.on(event, fn),
        close: () => node.close(),
      };
    },
    async rawShipped(dir, storage, samples, putBytes) {
      const body = new Uint8Array(putBytes).fill(7);
      const db = new Database(join(dir, 'raw.db'));
      try {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
        db.exec('CREATE TABLE t (id INTEGER, v TEXT)');
        const insert = db.prepare('INSERT INTO t VALUES (?, ?)');
        const out: RawSample[] = [];
        for (let i = 0; i < samples; i++) {
          const t = performance.now();
          insert.run(i, 'raw');
          const committed = performance.now();
          await storage.put(`raw/page-${i}`, body);
          const end = performance.now();
          out.push({ totalMs: end - t, shipMs: end - committed });
        }
        return out;
      } finally {
        db.close();
      }
    },
  };
  await runCostBench(ctx, adapter);
  // Faster failover at a higher price: core's 5 s timing set explicitly on the S3 lease.
  await runCostBench(ctx, adapter, { label: 'haqlite, lease TTL 5 s', writes: false, leaseTiming: FAST_LEASE_TIMING });
}
