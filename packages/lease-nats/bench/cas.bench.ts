import { measureCasLatency, withBenchService } from '@hadb/testkit/lease';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { NatsLeaseStore } from '../src/index.js';

const ITERATIONS = 1000;
const WARMUP = 100;

/** p50 of the same CAS put issued with the bare KV client: the floor this store adds to. */
async function rawUpdateP50(servers: string, bucket: string): Promise<number> {
  const nc = await connect({ servers });
  try {
    const kv = await new Kvm(nc).open(bucket);
    const key = `raw-${process.pid}`;
    let revision = await kv.create(key, 'x');
    const samples: number[] = [];
    for (let i = 0; i < WARMUP + ITERATIONS; i++) {
      const start = performance.now();
      revision = await kv.update(key, `x${i}`, revision);
      if (i >= WARMUP) samples.push(performance.now() - start);
    }
    await kv.purge(key);
    samples.sort((a, b) => a - b);
    return samples[Math.ceil(samples.length / 2) - 1]!;
  } finally {
    await nc.close();
  }
}

/** CAS round-trip against a real nats-server (JetStream file storage) on loopback. */
export async function run(ctx: BenchContext): Promise<void> {
  const ran = await withBenchService('nats', async (env) => {
    const servers = env.HADB_TEST_NATS_URL!;
    const bucket = `hadb-bench-${process.pid}`;
    const store = await NatsLeaseStore.connect({ servers, bucket });
    try {
      const latency = await measureCasLatency(store, { iterations: ITERATIONS, warmup: WARMUP });
      const raw = await rawUpdateP50(servers, bucket);
      ctx.record('nats CAS p50', latency.p50, 'ms', 'goal <= 1 ms on loopback');
      ctx.record('nats CAS p99', latency.p99, 'ms');
      ctx.record('nats bare kv.update p50', raw, 'ms', 'same CAS without the store');
      ctx.record('nats CAS p50 / bare update p50', latency.p50 / raw, 'ratio', 'overhead of the store');
    } finally {
      await store.close();
      const nc = await connect({ servers });
      await (await new Kvm(nc).open(bucket)).destroy().catch(() => undefined);
      await nc.close();
    }
    return true;
  });
  if (ran === undefined) process.stdout.write('  (nats-server not available: no rows)\n');
}
