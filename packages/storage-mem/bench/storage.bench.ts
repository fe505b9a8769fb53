import { randomBytes } from 'node:crypto';
import type { StorageBackend } from '@hadb/storage';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { MemStorageBackend } from '../src/index.js';

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function latencies(n: number, op: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await op(i);
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

async function record(ctx: BenchContext, what: string, n: number, op: (i: number) => Promise<unknown>, note: string) {
  const l = await latencies(n, op);
  ctx.record(`mem ${what} p50`, percentile(l, 50), 'ms', note);
  ctx.record(`mem ${what} p99`, percentile(l, 99), 'ms', note);
}

export async function run(ctx: BenchContext): Promise<void> {
  const b: StorageBackend = new MemStorageBackend();
  const data = randomBytes(4096);
  await record(ctx, 'put 4 KiB', 20_000, (i) => b.put(`bench/${i % 1000}`, data), '1,000 keys rewritten');
  await record(ctx, 'get 4 KiB', 20_000, (i) => b.get(`bench/${i % 1000}`), 'copy out');
  let { etag } = await b.put('cas', data);
  await record(
    ctx,
    'putIfMatch 4 KiB',
    20_000,
    async () => {
      const r = await b.putIfMatch('cas', data, etag);
      if (r.success) etag = r.etag;
    },
    'uncontended',
  );
  await record(ctx, 'list 1,000 keys', 2_000, () => b.list('bench/'), 'one page');
  await b.close();
}
