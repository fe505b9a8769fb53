import { measureCasLatency, withBenchService } from '@hadb/testkit/lease';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { S3LeaseStore } from '../src/index.js';

/** CAS round-trip (conditional PUT with If-Match) against a real Ceph RGW on loopback. */
export async function run(ctx: BenchContext): Promise<void> {
  const ran = await withBenchService('s3', async (env) => {
    await using store = await S3LeaseStore.open({
      bucket: env.HADB_TEST_S3_BUCKET!,
      endpoint: env.HADB_TEST_S3_ENDPOINT!,
      region: env.HADB_TEST_S3_REGION ?? process.env.HADB_TEST_S3_REGION ?? 'us-east-1',
      credentials: {
        accessKeyId: env.HADB_TEST_S3_ACCESS_KEY_ID!,
        secretAccessKey: env.HADB_TEST_S3_SECRET_ACCESS_KEY!,
      },
      unquotedIfMatch: (env.HADB_TEST_S3_UNQUOTED_IF_MATCH ?? process.env.HADB_TEST_S3_UNQUOTED_IF_MATCH) === '1',
      prefix: `hadb-bench-lease/${process.pid}/`,
    });
    const latency = await measureCasLatency(store, { iterations: 300, warmup: 30 });
    ctx.record('s3 (Ceph RGW) CAS p50', latency.p50, 'ms', 'conditional PUT, memstore OSD');
    ctx.record('s3 (Ceph RGW) CAS p99', latency.p99, 'ms');
    return true;
  });
  if (ran === undefined) process.stdout.write('  (S3 server not available: no rows)\n');
}
