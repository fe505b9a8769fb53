import { measureCasLatency } from '@hadb/testkit/lease';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { MemLeaseStore } from '../src/index.js';

/** CAS round-trip (writeIfMatch on the previous etag) of the in-memory store: the floor. */
export async function run(ctx: BenchContext): Promise<void> {
  await using store = new MemLeaseStore();
  const latency = await measureCasLatency(store, { iterations: 2000, warmup: 200 });
  ctx.record('mem CAS p50', latency.p50, 'ms');
  ctx.record('mem CAS p99', latency.p99, 'ms');
}
