import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Durability, HaDuckOptions } from '@hadb/haduck';
import type { LeaseStore } from '@hadb/lease';
import type { StorageBackend } from '@hadb/storage';
import { stderrLogger } from './log.js';

/**
 * Configuration of the example programs, from flags or environment variables (flags win):
 *
 * | flag | env | default | meaning |
 * |---|---|---|---|
 * | `--storage` | `HADUCK_STORAGE` | `local:<tmp dir>` | `local:<dir>` or `s3:<bucket>[/<prefix>]` |
 * | `--lease` | `HADUCK_LEASE` | `storage` | `storage` (a lease object in the storage above; on S3 through `@hadb/lease-s3`, which probes the server's conditional writes at startup), `nats:<url>[,<url>…]`, `etcd:<url>[,<url>…]` |
 * | `--path` | `HADUCK_PATH` | `<tmp>/<instance>.duckdb` | local DuckDB file |
 * | `--db` | `HADUCK_DB` | `demo` | database name (storage keys and lease scope) |
 * | `--prefix` | `HADUCK_PREFIX` | `haduck/` | key prefix in storage |
 * | `--instance` | `HADUCK_INSTANCE` | `node-<pid>` | this node's id |
 * | `--listen` | `HADUCK_LISTEN` | `127.0.0.1:0` | forwarding server bind address |
 * | `--address` | `HADUCK_ADDRESS` | `http://<listen>` | URL other nodes forward writes to |
 * | — | `HADUCK_SECRET` | none | forwarding bearer secret (env only, never printed) |
 * | `--ttl-ms` | `HADUCK_TTL_MS` | `5000` | lease TTL |
 * | `--checkpoint-ms` | `HADUCK_CHECKPOINT_MS` | `1000` | checkpoint interval while dirty |
 * | `--pull-ms` | `HADUCK_PULL_MS` | `250` | follower poll interval |
 * | `--write-rate` | `HADUCK_WRITE_RATE` | leader 20, follower 0 | rows per second to write |
 * | `--writer` | `HADUCK_WRITER` | the instance id | writer name stored in rows |
 * | `--durability` | `HADUCK_DURABILITY` | `shipped` | `committed` or `shipped` acknowledgements |
 * | `--log-level` | `HADUCK_LOG_LEVEL` | `warn` | `debug`, `info`, `warn` or `error`: library log lines (JSON) on stderr |
 *
 * S3 reads `HADUCK_S3_ENDPOINT` (omit for AWS), `HADUCK_S3_REGION` (default `us-east-1`),
 * `HADUCK_S3_UNQUOTED_IF_MATCH=1` (Ceph RGW <= 16) and the credentials from the AWS SDK's default
 * chain (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, profiles, instance roles). NATS takes
 * `HADUCK_NATS_BUCKET` (default `hadb-leases`); etcd takes `HADUCK_ETCD_PREFIX` (default `hadb/`).
 */
export interface ExampleConfig {
  readonly haduck: HaDuckOptions;
  readonly writeRate: number;
  readonly writer: string;
  readonly durability: Durability;
  /** Closes the storage and lease clients. */
  close(): Promise<void>;
}

const FLAGS = {
  storage: 'HADUCK_STORAGE',
  lease: 'HADUCK_LEASE',
  path: 'HADUCK_PATH',
  db: 'HADUCK_DB',
  prefix: 'HADUCK_PREFIX',
  instance: 'HADUCK_INSTANCE',
  listen: 'HADUCK_LISTEN',
  address: 'HADUCK_ADDRESS',
  'ttl-ms': 'HADUCK_TTL_MS',
  'checkpoint-ms': 'HADUCK_CHECKPOINT_MS',
  'pull-ms': 'HADUCK_PULL_MS',
  'write-rate': 'HADUCK_WRITE_RATE',
  writer: 'HADUCK_WRITER',
  durability: 'HADUCK_DURABILITY',
  'log-level': 'HADUCK_LOG_LEVEL',
} as const;

type Flag = keyof typeof FLAGS;

function settings(argv: readonly string[], env: NodeJS.ProcessEnv): Partial<Record<Flag, string>> {
  const options = Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: 'string' as const }]));
  const { values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
  const out: Partial<Record<Flag, string>> = {};
  for (const [flag, name] of Object.entries(FLAGS) as [Flag, string][]) {
    const v = (values as Record<string, string | undefined>)[flag] ?? env[name];
    if (v !== undefined && v !== '') out[flag] = v;
  }
  return out;
}

function num(value: string | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${what} must be a non-negative number`);
  return n;
}

/** Connection settings of an `s3:<bucket>[/<prefix>]` spec plus the `HADUCK_S3_*` variables. */
interface S3Spec {
  readonly bucket: string;
  readonly prefix: string;
  readonly endpoint: string | undefined;
  readonly region: string;
  readonly unquotedIfMatch: boolean;
}

function s3Spec(spec: string, env: NodeJS.ProcessEnv): S3Spec {
  const [bucket, ...rest] = spec.slice('s3:'.length).split('/');
  if (bucket === undefined || bucket === '') throw new Error('storage must be s3:<bucket>[/<prefix>]');
  const path = rest.filter((p) => p !== '').join('/');
  return {
    bucket,
    prefix: path === '' ? '' : `${path}/`,
    endpoint: env.HADUCK_S3_ENDPOINT || undefined,
    region: env.HADUCK_S3_REGION || 'us-east-1',
    unquotedIfMatch: env.HADUCK_S3_UNQUOTED_IF_MATCH === '1' || env.HADUCK_S3_UNQUOTED_IF_MATCH === 'true',
  };
}

async function openStorage(spec: string, env: NodeJS.ProcessEnv): Promise<StorageBackend> {
  if (spec.startsWith('local:')) {
    const { LocalStorageBackend } = await import('@hadb/storage-local');
    return LocalStorageBackend.open({ root: spec.slice('local:'.length) });
  }
  if (spec.startsWith('s3:')) {
    const s3 = s3Spec(spec, env);
    const { S3StorageBackend } = await import('@hadb/storage-s3');
    // Checks the bucket and credentials up front (HeadBucket) rather than at the first write.
    return S3StorageBackend.open({ bucket: s3.bucket, prefix: s3.prefix, endpoint: s3.endpoint, region: s3.region, unquotedIfMatch: s3.unquotedIfMatch });
  }
  throw new Error('storage must be local:<dir> or s3:<bucket>[/<prefix>]');
}

async function openLease(spec: string, storageSpec: string, storage: StorageBackend, env: NodeJS.ProcessEnv): Promise<LeaseStore> {
  if (spec === 'storage') {
    if (storageSpec.startsWith('s3:')) {
      const s3 = s3Spec(storageSpec, env);
      const { S3LeaseStore } = await import('@hadb/lease-s3');
      // Refuses to open when the server's conditional writes are not atomic (two leaders otherwise).
      return S3LeaseStore.open({ bucket: s3.bucket, prefix: `${s3.prefix}leases/`, endpoint: s3.endpoint, region: s3.region, unquotedIfMatch: s3.unquotedIfMatch });
    }
    const { StorageLeaseStore } = await import('@hadb/lease');
    return new StorageLeaseStore(storage, { prefix: 'leases/' });
  }
  if (spec.startsWith('nats:')) {
    const { NatsLeaseStore } = await import('@hadb/lease-nats');
    return NatsLeaseStore.open({ servers: spec.slice('nats:'.length).split(','), bucket: env.HADUCK_NATS_BUCKET || 'hadb-leases' });
  }
  if (spec.startsWith('etcd:')) {
    const { EtcdLeaseStore } = await import('@hadb/lease-etcd');
    return EtcdLeaseStore.open({ hosts: spec.slice('etcd:'.length).split(','), prefix: env.HADUCK_ETCD_PREFIX || 'hadb/' });
  }
  throw new Error('lease must be storage, nats:<url>[,<url>…] or etcd:<url>[,<url>…]');
}

/** Reads flags and environment, opens the storage and lease clients, and builds `HaDuck` options. */
export async function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv, defaults: { writeRate: number }): Promise<ExampleConfig> {
  const s = settings(argv, env);
  const instanceId = s.instance ?? `node-${process.pid}`;
  const scratch = s.storage === undefined || s.path === undefined ? mkdtempSync(join(tmpdir(), 'haduck-example-')) : undefined;
  const storageSpec = s.storage ?? `local:${join(scratch!, 'storage')}`;
  const storage = await openStorage(storageSpec, env);
  let lease: LeaseStore;
  try {
    lease = await openLease(s.lease ?? 'storage', storageSpec, storage, env);
  } catch (err) {
    await storage.close();
    throw err;
  }
  const listen = s.listen ?? '127.0.0.1:0';
  const [host, port] = splitHostPort(listen);
  const durability = (s.durability ?? 'shipped') as Durability;
  // Lease timing follows the TTL flag: renew at 40 % of it, poll at 20 %, margin 20 % (at most 1 s),
  // so a short demo TTL (2 s) stays valid (core's defaults suit its 5 s default TTL).
  const ttlMs = num(s['ttl-ms'], 5000, 'ttl-ms');
  if (durability !== 'shipped' && durability !== 'committed') throw new Error('durability must be shipped or committed');
  return {
    haduck: {
      path: s.path ?? join(scratch!, `${instanceId}.duckdb`),
      name: s.db ?? 'demo',
      storage,
      lease: { store: lease, ttlMs, renewIntervalMs: ttlMs * 0.4, pollIntervalMs: ttlMs / 5, skewMarginMs: Math.min(1000, ttlMs / 5) },
      prefix: s.prefix ?? 'haduck/',
      instanceId,
      listen: { host, port },
      address: s.address,
      secret: env.HADUCK_SECRET,
      checkpointIntervalMs: num(s['checkpoint-ms'], 1000, 'checkpoint-ms'),
      followerPullIntervalMs: num(s['pull-ms'], 250, 'pull-ms'),
      logger: stderrLogger(s['log-level'] ?? 'warn'),
    },
    writeRate: num(s['write-rate'], defaults.writeRate, 'write-rate'),
    writer: s.writer ?? instanceId,
    durability,
    async close() {
      await lease.close();
      await storage.close();
    },
  };
}

function splitHostPort(value: string): [string, number] {
  const i = value.lastIndexOf(':');
  if (i <= 0) throw new Error('listen must be host:port');
  const port = Number(value.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('listen port must be 0-65535');
  return [value.slice(0, i), port];
}
