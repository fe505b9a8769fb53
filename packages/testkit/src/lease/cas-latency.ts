import type { LeaseStore } from '@hadb/lease';
import { leaseBytes, uniqueScope } from './records.js';

/** Latency statistics in milliseconds. */
export interface LatencyStats {
  readonly samples: number;
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
}

/** Result of {@link measureCasLatency}. */
export interface CasLatency extends LatencyStats {
  /** The same statistics of `options.companion`, when given. */
  readonly companion?: LatencyStats | undefined;
}

function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

function stats(samples: readonly number[]): LatencyStats {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    samples: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
  };
}

/**
 * Measures sequential CAS round-trips (`writeIfMatch` on the etag the previous write returned,
 * with a fresh lease record each time) against `store`, after `warmup` unmeasured ones. For the
 * bench files; every write must succeed (it throws otherwise). `companion`, when given, runs
 * after each CAS and is timed too (for example the same CAS through the bare client), so both
 * series see the same machine load and their ratio is meaningful.
 */
export async function measureCasLatency(
  store: LeaseStore,
  options: {
    readonly iterations?: number;
    readonly warmup?: number;
    readonly companion?: (() => Promise<unknown>) | undefined;
  } = {},
): Promise<CasLatency> {
  const iterations = options.iterations ?? 500;
  const warmup = options.warmup ?? 50;
  const key = store.keyFor(uniqueScope('bench'));
  const created = await store.writeIfNotExists(key, leaseBytes('bench'));
  if (!created.success) throw new Error('bench key already exists');
  let etag = created.etag;
  const samples: number[] = [];
  const companion: number[] = [];
  for (let i = 0; i < warmup + iterations; i++) {
    const body = leaseBytes('bench', { epoch: i + 1 });
    const start = performance.now();
    const result = await store.writeIfMatch(key, body, etag);
    const elapsed = performance.now() - start;
    if (!result.success) throw new Error(`CAS ${i} unexpectedly lost`);
    etag = result.etag;
    if (i >= warmup) samples.push(elapsed);
    if (options.companion !== undefined) {
      const before = performance.now();
      await options.companion();
      if (i >= warmup) companion.push(performance.now() - before);
    }
  }
  await store.delete(key);
  return { ...stats(samples), ...(options.companion === undefined ? {} : { companion: stats(companion) }) };
}
