import { withBenchService } from '@hadb/testkit/lease';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { TIMINGS, runFailovers, type FailoverResult } from '../test/process/harness.js';

const URL_VAR = { nats: 'HADB_TEST_NATS_URL', etcd: 'HADB_TEST_ETCD_URL' } as const;
const KILLS = { '5s': 4, '2s': 5 } as const;

function median(sorted: readonly number[]): number {
  const mid = sorted.length / 2;
  return sorted.length % 2 === 1 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Failover time with real processes: three nodes (storage-local on one directory, a real lease
 * server on loopback), the leader SIGKILLed at a random point of its renewal cycle, until another
 * process reports `promoted`. Repeated kills in one cluster (the killed node restarts as a fresh
 * process each time).
 */
export async function run(ctx: BenchContext): Promise<void> {
  for (const backend of ['nats', 'etcd'] as const) {
    const ran = await withBenchService(backend, async (env) => {
      for (const ttl of ['5s', '2s'] as const) {
        const timing = TIMINGS[ttl];
        const results: FailoverResult[] = await runFailovers({
          backend,
          url: env[URL_VAR[backend]]!,
          timing,
          kills: KILLS[ttl],
        });
        const lost = results[0]?.lostAcks ?? 0;
        const violations = results[0]?.violations.length ?? 0;
        if (lost > 0 || violations > 0)
          throw new Error(`${backend} TTL ${ttl}: ${lost} acknowledged segments lost, ${violations} violations`);
        const times = results.map((r) => r.failoverMs).sort((a, b) => a - b);
        const goal = timing.ttlMs + 1000;
        const note = `leader SIGKILL → follower promoted, ${times.length} kills, margin ${timing.skewMarginMs} ms, poll ${timing.pollIntervalMs} ms; goal <= TTL + 1 s (${goal} ms)`;
        ctx.record(`${backend} failover TTL ${ttl} p50`, median(times), 'ms', note);
        ctx.record(`${backend} failover TTL ${ttl} max`, times.at(-1) ?? Number.NaN, 'ms');
        ctx.record(
          `${backend} failover TTL ${ttl} p50 / (TTL + 1 s)`,
          median(times) / goal,
          'ratio',
          '<= 1 meets the goal',
        );
      }
      return true;
    });
    if (ran === undefined)
      ctx.record(`${backend} failover`, Number.NaN, 'ms', `${backend} server not available; not measured`);
  }
}
