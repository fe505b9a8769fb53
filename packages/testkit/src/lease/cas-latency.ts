import type { LeaseStore } from '@hadb/lease';
import { leaseBytes, uniqueScope } from './records.js';

/** Result of {@link measureCasLatency}, in milliseconds. */
export interface CasLatency {
  readonly samples: number;
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
}

function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

/**
 * Measures sequential CAS round-trips (`writeIfMatch` on the etag the previous write returned,
 * with a fresh lease record each time) against `store`, after `warmup` unmeasured ones. For the
 * bench files; every write must succeed (it throws otherwise).
 */
export async function measureCasLatency(
  store: LeaseStore,
  options: { readonly iterations?: number; readonly warmup?: number } = {},
): Promise<CasLatency> {
  const iterations = options.iterations ?? 500;
  const warmup = options.warmup ?? 50;
  const key = store.keyFor(uniqueScope('bench'));
  const created = await store.writeIfNotExists(key, leaseBytes('bench'));
  if (!created.success) throw new Error('bench key already exists');
  let etag = created.etag;
  const samples: number[] = [];
  for (let i = 0; i < warmup + iterations; i++) {
    const body = leaseBytes('bench', { epoch: i + 1 });
    const start = performance.now();
    const result = await store.writeIfMatch(key, body, etag);
    const elapsed = performance.now() - start;
    if (!result.success) throw new Error(`CAS ${i} unexpectedly lost`);
    etag = result.etag;
    if (i >= warmup) samples.push(elapsed);
  }
  await store.delete(key);
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    samples: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
  };
}
