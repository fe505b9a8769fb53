import { measureCasLatency, withBenchService } from '@hadb/testkit/lease';
import { Etcd3 } from 'etcd3';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { EtcdLeaseStore } from '../src/index.js';

/**
 * CAS round-trip (a txn on mod_revision, fsynced) against a real etcd on loopback, interleaved
 * with the same txn through the bare etcd3 client (the floor this store adds to).
 */
export async function run(ctx: BenchContext): Promise<void> {
  const ran = await withBenchService('etcd', async (env) => {
    const hosts = env.HADB_TEST_ETCD_URL!;
    await using store = await EtcdLeaseStore.open({ hosts, prefix: `hadb-bench/${process.pid}/` });
    const client = new Etcd3({ hosts });
    try {
      const key = `hadb-bench/raw-${process.pid}`;
      let revision = (await client.if(key, 'Create', '==', 0).then(client.put(key).value('x')).commit()).header
        .revision;
      let i = 0;
      const latency = await measureCasLatency(store, {
        iterations: 1000,
        warmup: 100,
        companion: async () => {
          i += 1;
          const response = await client
            .if(key, 'Mod', '==', revision)
            .then(client.put(key).value(`x${i}`))
            .commit();
          if (!response.succeeded) throw new Error('bare CAS lost');
          revision = response.header.revision;
        },
      });
      await client.delete().key(key).exec();
      ctx.record('etcd CAS p50', latency.p50, 'ms', 'goal <= 2 ms on loopback');
      ctx.record('etcd CAS p99', latency.p99, 'ms');
      ctx.record('etcd bare etcd3 txn p50', latency.companion!.p50, 'ms', 'same txn without the store, interleaved');
      ctx.record('etcd CAS p50 / bare txn p50', latency.p50 / latency.companion!.p50, 'ratio', 'overhead of the store');
    } finally {
      client.close();
    }
    return true;
  });
  if (ran === undefined) process.stdout.write('  (etcd not available: no rows)\n');
}
