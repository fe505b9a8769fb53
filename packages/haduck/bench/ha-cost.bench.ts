// `pnpm bench ha-cost`: what a HaDuck leader + follower pair costs in storage requests (idle, 1
// write/s), `shipped` writes beside DuckDB's own CHECKPOINT + one PUT, 16 concurrent `shipped`
// writers beside `committed`, commit → visible. Storage: a local directory. See scripts/bench-ha-cost.ts.
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { StorageLeaseStore } from '@hadb/lease';
import { S3_LEASE_TIMING } from '@hadb/lease-s3';
import { LocalStorageBackend } from '@hadb/storage-local';
import { countRequests, dollarsPerMonth } from '@hadb/testkit/storage';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { FAST_LEASE_TIMING, runCostBench, type CostAdapter, type RawSample } from '../../../scripts/bench-ha-cost.js';
import { HaDuck } from '../src/index.js';

export async function run(ctx: BenchContext): Promise<void> {
  const adapter: CostAdapter<LocalStorageBackend, StorageLeaseStore> = {
    engine: 'haduck',
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
    suffix: '.duckdb',
    createTable: 'CREATE TABLE t (id BIGINT, v VARCHAR)',
    insert: 'INSERT INTO t VALUES ($1, $2)',
    rawLabel: 'INSERT + CHECKPOINT + one PUT',
    rawShipLabel: 'CHECKPOINT + one PUT',
    async open({ variant, leaseTiming, ...o }) {
      const node = await HaDuck.open({
        ...o,
        lease: { store: o.lease, ...leaseTiming },
        name: 'cost',
        // duckblock's default snapshot policy snapshots after each file size of shipped blocks
        // (every ~2 ships of a small database): the variant turns that trigger off (hourly only).
        snapshot: variant === 'no-size-snapshots' ? { afterFileSizes: 0 } : undefined,
      });
      return {
        execute: (sql, args, w) => node.execute(sql, args as never, w),
        count: async () => Number((await node.query('SELECT count(*) FROM t')).rows[0]?.[0] ?? 0),
        on: (event, fn) => node.on(event, fn),
        close: () => node.close(),
      };
    },
    async rawShipped(dir, storage, samples, putBytes) {
      const body = new Uint8Array(putBytes).fill(7);
      const instance = await DuckDBInstance.create(join(dir, 'raw.duckdb'));
      const conn = await instance.connect();
      try {
        await conn.run('CREATE TABLE t (id BIGINT, v VARCHAR)');
        await conn.run('CHECKPOINT');
        const out: RawSample[] = [];
        for (let i = 0; i < samples; i++) {
          const t = performance.now();
          await conn.run(`INSERT INTO t VALUES (${i}, 'raw')`);
          const committed = performance.now();
          await conn.run('CHECKPOINT');
          await storage.put(`raw/block-${i}`, body);
          const end = performance.now();
          out.push({ totalMs: end - t, shipMs: end - committed });
        }
        return out;
      } finally {
        conn.closeSync();
        instance.closeSync();
      }
    },
  };
  await runCostBench(ctx, adapter);
  await runCostBench(ctx, adapter, {
    label: 'haduck (snapshots hourly only)',
    idle: false,
    concurrent: true,
    variant: 'no-size-snapshots',
  });
  // Faster failover at a higher price: core's 5 s timing set explicitly on the S3 lease.
  await runCostBench(ctx, adapter, { label: 'haduck, lease TTL 5 s', writes: false, leaseTiming: FAST_LEASE_TIMING });
}
