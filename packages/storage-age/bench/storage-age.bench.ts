// Bench of @hadb/storage-age, everything measured in the same run: put/get throughput through the
// wrapper divided by the same backend without it (4 KiB, 256 KiB, 16 MiB objects; in-memory
// backend for the pure cost, local directory for a real one), the per-object cost of the hybrid
// post-quantum header, the pure-JavaScript age library's payload speed beside the native one, and
// the time encryption adds to a duckblock checkpoint, initial snapshot and follower restore.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { TermFence, systemClock } from '@hadb/core';
import { DuckblockReplicator, releaseLeaderFile } from '@hadb/duckblock';
import type { StorageBackend } from '@hadb/storage';
import { LocalStorageBackend } from '@hadb/storage-local';
import { MemStorageBackend } from '@hadb/storage-mem';
import { S3StorageBackend, type S3StorageOptions } from '@hadb/storage-s3';
import {
  Decrypter,
  Encrypter,
  generateHybridIdentity,
  generateX25519Identity,
  identityToRecipient,
} from 'age-encryption';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { encryptedStorage } from '../src/index.js';

const MiB = 2 ** 20;
const SIZES: Array<[string, number, number]> = [
  ['4 KiB', 4 * 1024, 600],
  ['256 KiB', 256 * 1024, 160],
  ['16 MiB', 16 * MiB, 6],
];

async function keys(kind: 'x25519' | 'hybrid') {
  const identity = kind === 'x25519' ? await generateX25519Identity() : await generateHybridIdentity();
  return { recipients: [await identityToRecipient(identity)], identities: [identity] };
}

/** MB/s of `n` sequential `op`s moving `bytes` each (after a short warm-up). */
async function throughput(n: number, bytes: number, op: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(5, n); i++) await op(i);
  const t = performance.now();
  for (let i = 0; i < n; i++) await op(i);
  return (n * bytes) / MiB / ((performance.now() - t) / 1000);
}

async function putGet(b: StorageBackend, size: number, n: number): Promise<{ put: number; get: number }> {
  const data = randomBytes(size);
  const keysUsed = Math.min(n, 50);
  const put = await throughput(n, size, (i) => b.put(`bench/${i % keysUsed}`, data));
  const get = await throughput(n, size, (i) => b.get(`bench/${i % keysUsed}`));
  await b.deleteMany(await b.list('bench/'));
  return { put, get };
}

/**
 * Encrypted ÷ plain put and get MB/s on one kind of backend: the two backends take turns op by op
 * (so load from other processes falls on both alike), each over its own namespace.
 */
async function compareBackends(
  ctx: BenchContext,
  label: string,
  make: () => Promise<StorageBackend>,
  cleanup: () => Promise<void>,
) {
  const x = await keys('x25519');
  for (const [name, size, n] of SIZES) {
    const plain = await make();
    const enc = await encryptedStorage(await make(), x);
    const data = randomBytes(size);
    const keysUsed = Math.min(n, 50);
    const spent = { plainPut: 0, encPut: 0, plainGet: 0, encGet: 0 };
    const timed = async (op: () => Promise<unknown>) => {
      const t = performance.now();
      await op();
      return performance.now() - t;
    };
    for (let i = 0; i < Math.min(5, n); i++) {
      await plain.put(`bench/${i}`, data);
      await enc.put(`bench/${i}`, data);
    }
    for (let i = 0; i < n; i++) {
      const key = `bench/${i % keysUsed}`;
      spent.plainPut += await timed(() => plain.put(key, data));
      spent.encPut += await timed(() => enc.put(key, data));
    }
    for (let i = 0; i < n; i++) {
      const key = `bench/${i % keysUsed}`;
      spent.plainGet += await timed(() => plain.get(key));
      spent.encGet += await timed(() => enc.get(key));
    }
    for (const b of [plain, enc]) {
      await b.deleteMany(await b.list('bench/'));
      await b.close();
    }
    await cleanup();
    const mbs = (ms: number) => (n * size) / MiB / (ms / 1000);
    const load = `load ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`;
    ctx.record(
      `${label} ${name} put: encrypted / plain MB/s`,
      spent.plainPut / spent.encPut,
      'ratio',
      `${mbs(spent.encPut).toFixed(1)} vs ${mbs(spent.plainPut).toFixed(1)} MB/s (X25519, ${n} interleaved ops), ${load}`,
    );
    ctx.record(
      `${label} ${name} get: encrypted / plain MB/s`,
      spent.plainGet / spent.encGet,
      'ratio',
      `${mbs(spent.encGet).toFixed(1)} vs ${mbs(spent.plainGet).toFixed(1)} MB/s (X25519, ${n} interleaved ops), ${load}`,
    );
  }
}

/** The wrapper's own throughput over the in-memory backend (which copies nothing): the crypto cost alone. */
async function cryptoOnly(ctx: BenchContext) {
  const b = await encryptedStorage(new MemStorageBackend(), await keys('x25519'));
  for (const [name, size, n] of SIZES) {
    const r = await putGet(b, size, n);
    ctx.record(`crypto only (mem) ${name} put`, r.put, 'MB/s', 'X25519; the in-memory backend itself costs ~0');
    ctx.record(`crypto only (mem) ${name} get`, r.get, 'MB/s', 'X25519');
  }
  await b.close();
}

function s3Options(): S3StorageOptions | undefined {
  const e = process.env;
  if (
    !e.HADB_TEST_S3_ENDPOINT ||
    !e.HADB_TEST_S3_BUCKET ||
    !e.HADB_TEST_S3_ACCESS_KEY_ID ||
    !e.HADB_TEST_S3_SECRET_ACCESS_KEY
  )
    return undefined;
  return {
    bucket: e.HADB_TEST_S3_BUCKET,
    endpoint: e.HADB_TEST_S3_ENDPOINT,
    region: e.HADB_TEST_S3_REGION ?? 'us-east-1',
    credentials: { accessKeyId: e.HADB_TEST_S3_ACCESS_KEY_ID, secretAccessKey: e.HADB_TEST_S3_SECRET_ACCESS_KEY },
    unquotedIfMatch: e.HADB_TEST_S3_UNQUOTED_IF_MATCH === '1',
  };
}

async function perObjectCost(ctx: BenchContext) {
  for (const kind of ['x25519', 'hybrid'] as const) {
    const b = await encryptedStorage(new MemStorageBackend(), await keys(kind));
    const data = randomBytes(4096);
    const n = kind === 'x25519' ? 400 : 150;
    for (let i = 0; i < 5; i++) await b.put(`w/${i}`, data);
    let t = performance.now();
    for (let i = 0; i < n; i++) await b.put(`o/${i}`, data);
    const putMs = (performance.now() - t) / n;
    t = performance.now();
    for (let i = 0; i < n; i++) await b.get(`o/${i}`);
    const getMs = (performance.now() - t) / n;
    const header = (await b.inner.head('o/0'))!.size - 4096 - 32;
    ctx.record(`${kind} 4 KiB put latency (mem)`, putMs, 'ms', 'one fresh file key wrapped per object');
    ctx.record(`${kind} 4 KiB get latency (mem)`, getMs, 'ms', 'unwrap + header MAC + one chunk');
    ctx.record(
      `${kind} stored overhead per object`,
      header + 32,
      'bytes',
      'header (one recipient + key binding) + nonce + 16 per 64 KiB chunk',
    );
    await b.close();
  }
}

async function libraryPayload(ctx: BenchContext) {
  const x = await keys('x25519');
  const data = randomBytes(16 * MiB);
  const e = new Encrypter();
  e.addRecipient(x.recipients[0]!);
  let t = performance.now();
  const ct = await e.encrypt(data);
  const libEnc = 16 / ((performance.now() - t) / 1000);
  const d = new Decrypter();
  d.addIdentity(x.identities[0]!);
  t = performance.now();
  await d.decrypt(ct);
  const libDec = 16 / ((performance.now() - t) / 1000);
  const b = await encryptedStorage(new MemStorageBackend(), x);
  const native = await putGet(b, 16 * MiB, 4);
  await b.close();
  ctx.record(
    '16 MiB encrypt: wrapper (native ChaCha20-Poly1305) / age-encryption library (pure JS)',
    native.put / libEnc,
    'ratio',
    `${native.put.toFixed(0)} vs ${libEnc.toFixed(0)} MB/s`,
  );
  ctx.record(
    '16 MiB decrypt: wrapper (native) / age-encryption library (pure JS)',
    native.get / libDec,
    'ratio',
    `${native.get.toFixed(0)} vs ${libDec.toFixed(0)} MB/s`,
  );
}

const ROWS = 3_000_000;
const ROUNDS = 3;
const SCENARIOS: ReadonlyArray<readonly [string, (round: number) => string]> = [
  [
    '1,000-row insert',
    (r) => `insert into big select range, hash(range), 0, 1 from range(${ROWS + r * 1000}, ${ROWS + (r + 1) * 1000})`,
  ],
  ['1% scattered update', (r) => `update big set h2 = h2 + 1 where id % 100 = ${42 + r}`],
];

/** One duckblock leader (a 3M-row DuckDB file) replicating to `storage`. */
class Leader {
  private constructor(
    readonly dir: string,
    readonly storage: StorageBackend,
    readonly replicator: DuckblockReplicator,
    readonly instance: DuckDBInstance,
    readonly conn: Awaited<ReturnType<DuckDBInstance['connect']>>,
  ) {}

  static async create(storage: StorageBackend, dir: string): Promise<Leader> {
    const instance = await DuckDBInstance.create(join(dir, 'leader.duckdb'), {
      checkpoint_threshold: '100GB',
      threads: '1',
    });
    const conn = await instance.connect();
    await conn.run(
      `create table big as select range::BIGINT id, hash(range) h, hash(range + 1) h2, (range % 1000)::INTEGER g from range(${ROWS})`,
    );
    await conn.run('CHECKPOINT');
    const replicator = new DuckblockReplicator({
      storage,
      prefix: 'b/',
      snapshot: { intervalMs: 0, afterFileSizes: 0 },
    });
    return new Leader(dir, storage, replicator, instance, conn);
  }

  async snapshot(): Promise<number> {
    const fence = new TermFence({
      db: 'big',
      epoch: 1,
      clock: systemClock,
      sentAt: systemClock.now(),
      windowMs: Infinity,
    });
    const t = performance.now();
    await this.replicator.startLineage('big', join(this.dir, 'leader.duckdb'), {
      db: 'big',
      epoch: 1,
      instanceId: 'bench',
      sessionId: 'bench',
      fence,
    });
    return performance.now() - t;
  }

  async checkpoint(sql: string): Promise<{ ms: number; bytes: number }> {
    await this.conn.run(sql);
    await this.conn.run('CHECKPOINT');
    const t = performance.now();
    const pushed = await this.replicator.pushCheckpoint('big');
    return { ms: performance.now() - t, bytes: pushed.bytes };
  }

  async restore(): Promise<number> {
    const t = performance.now();
    await this.replicator.pull('big', join(this.dir, `follower-${Math.random().toString(36).slice(2)}.duckdb`));
    return performance.now() - t;
  }

  async close(): Promise<void> {
    this.conn.closeSync();
    this.instance.closeSync();
    await releaseLeaderFile(join(this.dir, 'leader.duckdb'));
    await this.storage.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Two identical leaders, one on plain local storage and one on the same storage encrypted, run the
 * same checkpoints interleaved (the order alternating per round); the medians are compared.
 */
async function duckblockCost(ctx: BenchContext) {
  const x = await keys('x25519');
  const open = async (encrypted: boolean) => {
    const dir = await mkdtemp(join(tmpdir(), 'age-bench-duckblock-'));
    const inner = await LocalStorageBackend.open({ root: join(dir, 'bucket') });
    return Leader.create(encrypted ? await encryptedStorage(inner, x) : inner, dir);
  };
  const plain = await open(false);
  const enc = await open(true);
  try {
    const snap = { plain: await plain.snapshot(), enc: await enc.snapshot() };
    for (const [name, sql] of SCENARIOS) {
      const times = { plain: [] as number[], enc: [] as number[] };
      let bytes = 0;
      for (let r = 0; r < ROUNDS; r++) {
        const order = r % 2 === 0 ? (['plain', 'enc'] as const) : (['enc', 'plain'] as const);
        for (const which of order) {
          const res = await (which === 'plain' ? plain : enc).checkpoint(sql(r));
          times[which].push(res.ms);
          bytes = res.bytes;
        }
      }
      const p = median(times.plain);
      const e = median(times.enc);
      ctx.record(
        `duckblock checkpoint (${name}): encrypted / plain time`,
        e / p,
        'ratio',
        `median of ${ROUNDS}: ${e.toFixed(0)} vs ${p.toFixed(0)} ms, ${(bytes / MiB).toFixed(1)} MiB shipped, local storage with fsync`,
      );
      ctx.record(`duckblock checkpoint (${name}): time added by encryption`, e - p, 'ms', `median of ${ROUNDS}`);
    }
    ctx.record(
      'duckblock initial snapshot: encrypted / plain time',
      snap.enc / snap.plain,
      'ratio',
      `${snap.enc.toFixed(0)} vs ${snap.plain.toFixed(0)} ms, ${ROWS / 1e6}M rows`,
    );
    const restore = { plain: await plain.restore(), enc: await enc.restore() };
    ctx.record(
      'duckblock follower restore: encrypted / plain time',
      restore.enc / restore.plain,
      'ratio',
      `${restore.enc.toFixed(0)} vs ${restore.plain.toFixed(0)} ms`,
    );
  } finally {
    await plain.close();
    await enc.close();
  }
}

export async function run(ctx: BenchContext): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'age-bench-local-'));
  let round = 0;
  await compareBackends(
    ctx,
    'local',
    async () => LocalStorageBackend.open({ root: join(root, String(round++)) }),
    async () => {},
  );
  await rm(root, { recursive: true, force: true });
  const s3 = s3Options();
  if (s3 === undefined) process.stdout.write('  (no HADB_TEST_S3_* variables: S3 rows skipped)\n');
  else
    await compareBackends(
      ctx,
      's3',
      async () => S3StorageBackend.open({ ...s3, prefix: `age-bench/${round++}/` }),
      async () => {},
    );
  await cryptoOnly(ctx);
  await perObjectCost(ctx);
  await libraryPayload(ctx);
  await duckblockCost(ctx);
}
