import { measureCasLatency, withBenchService } from '@hadb/testkit/lease';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { NatsLeaseStore } from '../src/index.js';

/**
 * CAS round-trip against a real nats-server (JetStream file storage) on loopback, interleaved with
 * the same CAS through the bare KV client (the floor this store adds to).
 */
export async function run(ctx: BenchContext): Promise<void> {
  const ran = await withBenchService('nats', async (env) => {
    const servers = env.HADB_TEST_NATS_URL!;
    const bucket = `hadb-bench-${process.pid}`;
    const store = await NatsLeaseStore.open({ servers, bucket });
    const nc = await connect({ servers });
    try {
      const kv = await new Kvm(nc).open(bucket);
      const key = `raw-${process.pid}`;
      let revision = await kv.create(key, 'x');
      let i = 0;
      const latency = await measureCasLatency(store, {
        iterations: 1000,
        warmup: 100,
        companion: async () => {
          i += 1;
          revision = await kv.update(key, `x${i}`, revision);
        },
      });
      ctx.record('nats CAS p50', latency.p50, 'ms', 'goal <= 1 ms on loopback');
      ctx.record('nats CAS p99', latency.p99, 'ms');
      ctx.record('nats bare kv.update p50', latency.companion!.p50, 'ms', 'same CAS without the store, interleaved');
      ctx.record(
        'nats CAS p50 / bare update p50',
        latency.p50 / latency.companion!.p50,
        'ratio',
        'overhead of the store',
      );
    } finally {
      await store.close();
      await (await new Kvm(nc).open(bucket)).destroy().catch(() => undefined);
      await nc.close();
    }
    return true;
  });
  if (ran === undefined) process.stdout.write('  (nats-server not available: no rows)\n');
}
