import { measureCasLatency, withBenchService } from '@hadb/testkit/lease';
import { Etcd3 } from 'etcd3';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { EtcdLeaseStore } from '../src/index.js';

const ITERATIONS = 1000;
const WARMUP = 100;

/** p50 of the same CAS txn issued with the bare etcd3 client: the floor this store adds to. */
async function rawTxnP50(hosts: string): Promise<number> {
  const client = new Etcd3({ hosts });
  try {
    const key = `hadb-bench/raw-${process.pid}`;
    let revision = (await client.if(key, 'Create', '==', 0).then(client.put(key).value('x')).commit()).header.revision;
    const samples: number[] = [];
    for (let i = 0; i < WARMUP + ITERATIONS; i++) {
      const start = performance.now();
      const response = await client.if(key, 'Mod', '==', revision).then(client.put(key).value(`x${i}`)).commit();
      if (i >= WARMUP) samples.push(performance.now() - start);
      revision = response.header.revision;
    }
    await client.delete().key(key).exec();
    samples.sort((a, b) => a - b);
    return samples[Math.ceil(samples.length / 2) - 1]!;
  } finally {
    client.close();
  }
}

/** CAS round-trip (a txn on mod_revision, fsynced) against a real etcd on loopback. */
export async function run(ctx: BenchContext): Promise<void> {
  const ran = await withBenchService('etcd', async (env) => {
    const hosts = env.HADB_TEST_ETCD_URL!;
    await using store = await EtcdLeaseStore.connect({ hosts, prefix: `hadb-bench/${process.pid}/` });
    const latency = await measureCasLatency(store, { iterations: ITERATIONS, warmup: WARMUP });
    const raw = await rawTxnP50(hosts);
    ctx.record('etcd CAS p50', latency.p50, 'ms', 'goal <= 2 ms on loopback');
    ctx.record('etcd CAS p99', latency.p99, 'ms');
    ctx.record('etcd bare etcd3 txn p50', raw, 'ms', 'same txn without the store');
    ctx.record('etcd CAS p50 / bare txn p50', latency.p50 / raw, 'ratio', 'overhead of the store');
    return true;
  });
  if (ran === undefined) process.stdout.write('  (etcd not available: no rows)\n');
}
