import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { LocalStorageBackend } from '../src/index.js';

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

/** The floor a durable atomic put cannot beat: write a temp file, fdatasync, rename, fsync the directory. */
async function rawPut(dir: string, name: string, data: Uint8Array): Promise<void> {
  const temp = join(dir, `${name}.tmp`);
  const fh = await open(temp, 'w');
  try {
    await fh.writeFile(data);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(temp, join(dir, name));
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

export async function run(ctx: BenchContext): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'hadb-local-bench-'));
  try {
    const b = await LocalStorageBackend.open({ root: join(base, 'store') });
    const data = randomBytes(4096);
    const lat = async (what: string, n: number, op: (i: number) => Promise<unknown>, note: string) => {
      const l = await latencies(n, op);
      ctx.record(`local ${what} p50`, percentile(l, 50), 'ms', note);
      ctx.record(`local ${what} p99`, percentile(l, 99), 'ms', note);
    };
    await lat('put 4 KiB', 400, (i) => b.put(`bench/${i % 1000}`, data), 'fsync on');
    await b.putMany(Array.from({ length: 1000 }, (_, i) => ({ key: `bench/${i}`, data })));
    await lat('get 4 KiB', 5000, (i) => b.get(`bench/${i % 1000}`), 'page cache');
    await lat('head', 5000, (i) => b.head(`bench/${i % 1000}`), 'one stat');
    let { etag } = await b.put('cas', data);
    await lat(
      'putIfMatch 4 KiB',
      400,
      async () => {
        const r = await b.putIfMatch('cas', data, etag);
        if (r.success) etag = r.etag;
      },
      'uncontended, fsync on',
    );
    await lat('list 1,000 keys', 200, () => b.list('bench/'), 'one directory');

    const rawDir = join(base, 'raw');
    await mkdirp(rawDir);
    for (const [label, size, n] of [
      ['4 KiB', 4096, 300],
      ['256 KiB', 256 * 1024, 200],
      ['4 MiB', 4 * 1024 * 1024, 80],
    ] as const) {
      const payload = randomBytes(size);
      const backendMs: number[] = [];
      const rawMs: number[] = [];
      // Interleaved, alternating which goes first, so both see the same disk, neighbours and
      // leftover journal work; medians resist the neighbours' bursts.
      const timed = async (out: number[], op: () => Promise<unknown>) => {
        const t = performance.now();
        await op();
        out.push(performance.now() - t);
      };
      for (let i = 0; i < n; i++) {
        const local = () => timed(backendMs, () => b.put(`mbps/${label}/${i % 20}`, payload));
        const raw = () => timed(rawMs, () => rawPut(rawDir, `${size}-${i % 20}`, payload));
        if (i % 2 === 0) {
          await local();
          await raw();
        } else {
          await raw();
          await local();
        }
      }
      const median = (xs: number[]) =>
        percentile(
          [...xs].sort((x, y) => x - y),
          50,
        );
      const backendMBps = size / 1e6 / (median(backendMs) / 1000);
      const rawMBps = size / 1e6 / (median(rawMs) / 1000);
      ctx.record(`local put ${label}`, backendMBps, 'MB/s', `size / median latency of ${n} puts, fsync on`);
      ctx.record(`raw write+fdatasync+rename+dir fsync ${label}`, rawMBps, 'MB/s', 'same run, interleaved, median');
      ctx.record(`local put / raw ${label}`, backendMBps / rawMBps, 'ratio', 'higher is better, 1.0 = no overhead');
    }
    await b.close();
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

async function mkdirp(dir: string): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true });
}
