import { createHash, randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { S3StorageBackend } from '../src/index.js';

/** Nearest-rank percentile of already sorted samples. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

async function timed(n: number, op: (i: number) => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await op(i);
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return samples.sort((a, b) => a - b);
}

function recordLatency(ctx: BenchContext, name: string, sorted: number[], note: string): void {
  ctx.record(`${name} p50`, Number(percentile(sorted, 50).toFixed(2)), 'ms', note);
  ctx.record(`${name} p99`, Number(percentile(sorted, 99).toFixed(2)), 'ms', note);
}

/**
 * Latency of the S3 backend against the loopback Ceph RGW from scripts/services/ceph-s3.sh
 * (start it, then export `bash scripts/services/ceph-s3.sh env`). Sequential requests, 1 KiB
 * objects unless noted; a bare SDK PutObject gives the floor the backend adds to.
 */
export async function run(ctx: BenchContext): Promise<void> {
  const env = process.env;
  const endpoint = env.HADB_TEST_S3_ENDPOINT;
  const bucket = env.HADB_TEST_S3_BUCKET;
  if (!endpoint || !bucket || !env.HADB_TEST_S3_ACCESS_KEY_ID || !env.HADB_TEST_S3_SECRET_ACCESS_KEY) {
    process.stdout.write(
      '  skipped: no S3 server (run `bash scripts/services/ceph-s3.sh start` and export the lines of `... env`)\n',
    );
    return;
  }
  const credentials = {
    accessKeyId: env.HADB_TEST_S3_ACCESS_KEY_ID,
    secretAccessKey: env.HADB_TEST_S3_SECRET_ACCESS_KEY,
  };
  const region = env.HADB_TEST_S3_REGION ?? 'us-east-1';
  const prefix = `bench-${randomBytes(4).toString('hex')}/`;

  // Counts the HTTP statuses the server answers, to show how often RGW answers a lost race with 500.
  const statuses = new Map<number, number>();
  const client = new S3Client({
    endpoint,
    region,
    credentials,
    forcePathStyle: true,
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        const out = await next(args);
        const code = (out.response as { statusCode?: number }).statusCode ?? 0;
        statuses.set(code, (statuses.get(code) ?? 0) + 1);
        return out;
      } catch (error) {
        const code = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0;
        statuses.set(code, (statuses.get(code) ?? 0) + 1);
        throw error;
      }
    },
    { step: 'deserialize', name: 'benchStatusCounter' },
  );
  const s3 = new S3StorageBackend({
    bucket,
    prefix,
    client,
    unquotedIfMatch: env.HADB_TEST_S3_UNQUOTED_IF_MATCH === '1',
    retry: { circuitBreaker: false },
  });
  const small = randomBytes(1024);
  const n = 200;
  // The machine is shared; the load average at the start says how much the numbers are disturbed.
  const load = `load ${loadavg()[0]?.toFixed(1)} avg (2 shared cores)`;
  const note = `loopback Ceph RGW 16, ${n} sequential, 1 KiB, ${load}`;
  try {
    // Warm up connections and RGW's caches.
    for (let i = 0; i < 20; i++) await s3.put(`warm/${i}`, small);

    const sdkPut = await timed(n, (i) =>
      client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}sdk/${i}`, Body: small })),
    );
    const put = await timed(n, (i) => s3.put(`obj/${i}`, small));
    const get = await timed(n, (i) => s3.get(`obj/${i}`));
    const head = await timed(n, (i) => s3.head(`obj/${i}`));
    recordLatency(ctx, 'put', put, note);
    recordLatency(ctx, 'get', get, note);
    recordLatency(ctx, 'head', head, note);
    recordLatency(ctx, 'bare SDK PutObject (floor)', sdkPut, note);
    ctx.record(
      'put p50 / bare SDK PutObject p50',
      Number((percentile(put, 50) / percentile(sdkPut, 50)).toFixed(2)),
      'x',
      'Content-MD5 + retry wrapper overhead',
    );

    const list = await timed(50, () => s3.list('obj/'));
    recordLatency(ctx, `list ${n} keys (1 page)`, list, `loopback Ceph RGW 16, 50 sequential listings, ${load}`);

    let { etag } = await s3.put('lease', small);
    const cas = await timed(n, async (i) => {
      const r = await s3.putIfMatch('lease', Buffer.from(`renewal ${i} ${etag}`), etag);
      if (!r.success) throw new Error('bench: uncontended putIfMatch lost');
      etag = r.etag;
    });
    recordLatency(ctx, 'putIfMatch (uncontended)', cas, note);
    const absent = await timed(n, (i) => s3.putIfAbsent(`absent/${i}`, small));
    recordLatency(ctx, 'putIfAbsent (new key)', absent, note);

    // Contended: 20 writers race one etag; every round must have exactly one winner.
    const rounds = 20;
    const racers = 20;
    statuses.clear();
    let current = (await s3.put('race', small)).etag;
    const raceMs = await timed(rounds, async (round) => {
      const results = await Promise.all(
        Array.from({ length: racers }, (_, w) => s3.putIfMatch('race', Buffer.from(`r${round}w${w}`), current)),
      );
      const winners = results.filter((r) => r.success);
      if (winners.length !== 1) throw new Error(`bench: ${winners.length} winners in round ${round}`);
      current = (winners[0] as { etag: string }).etag;
    });
    recordLatency(
      ctx,
      `race round (${racers} putIfMatch, 1 winner)`,
      raceMs,
      `loopback Ceph RGW 16, ${rounds} rounds, ${load}`,
    );
    ctx.record(
      'racing putIfMatch answered 500 by RGW (resolved by re-read)',
      Number((((statuses.get(500) ?? 0) / (rounds * racers)) * 100).toFixed(1)),
      '%',
      `of ${rounds * racers} racing conditional PUTs (the others: 1 winner per round, 412 for the rest)`,
    );

    // Streaming throughput through a multipart upload (5 MiB parts, 4 in flight).
    const big = new S3StorageBackend({ bucket, prefix, client, partSize: 5 * 1024 * 1024, queueSize: 4 });
    const mib = 64;
    const chunk = randomBytes(1024 * 1024);
    async function* body(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < mib; i++) yield chunk;
    }
    let t = process.hrtime.bigint();
    await big.putStream('big', body());
    const putMs = Number(process.hrtime.bigint() - t) / 1e6;
    t = process.hrtime.bigint();
    const stream = await big.getStream('big');
    const hash = createHash('sha256');
    for await (const c of stream!.body) hash.update(c);
    const getMs = Number(process.hrtime.bigint() - t) / 1e6;
    ctx.record(
      'putStream 64 MiB (5 MiB parts x4)',
      Number(((mib * 1000) / putMs).toFixed(0)),
      'MiB/s',
      `loopback Ceph RGW 16 (memstore), ${load}`,
    );
    ctx.record(
      'getStream 64 MiB',
      Number(((mib * 1000) / getMs).toFixed(0)),
      'MiB/s',
      `loopback Ceph RGW 16 (memstore), with SHA-256, ${load}`,
    );
  } finally {
    const keys = await s3.list('').catch(() => [] as string[]);
    await s3.deleteMany(keys).catch(() => 0);
    const sdkKeys = Array.from({ length: n }, (_, i) => `sdk/${i}`);
    await s3.deleteMany(sdkKeys).catch(() => 0);
    await s3.close();
    client.destroy();
  }
}
