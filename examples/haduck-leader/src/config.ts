import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Durability, HaDuckOptions } from '@hadb/haduck';
import type { LeaseStore } from '@hadb/lease';
import type { StorageBackend } from '@hadb/storage';
import { UsageError } from './cli.js';
import { stderrLogger } from './log.js';
import { FLAGS, named, type Flag, type Setting } from './settings.js';

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
  /**
   * Rewrites an error about a library option (`leaseTtlMs`) into one about the setting the user
   * gave (`HADUCK_TTL_MS=50`); other errors are returned unchanged.
   */
  explain(error: unknown): unknown;
  /** Closes the storage and lease clients and removes the temporary directory, if one was made. */
  close(): Promise<void>;
}

type Settings = Partial<Record<Flag, Setting>>;

/** Library options whose values come from a setting, for {@link ExampleConfig.explain}. */
const OPTION_OF: Partial<Record<Flag, readonly string[]>> = {
  'ttl-ms': [
    'leaseTtlMs',
    'ttlMs',
    'leaseRenewIntervalMs',
    'renewIntervalMs',
    'leasePollIntervalMs',
    'pollIntervalMs',
    'skewMarginMs',
  ],
  'checkpoint-ms': ['checkpointIntervalMs'],
  'pull-ms': ['followerPullIntervalMs', 'pullIntervalMs'],
  path: ['path'],
  db: ['name'],
  prefix: ['prefix'],
  instance: ['instanceId'],
  address: ['address'],
  listen: ['listen'],
};

function num(setting: Setting | undefined, fallback: number, min = 0, why = ''): number {
  if (setting === undefined) return fallback;
  const n = Number(setting.value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${named(setting)}: must be a non-negative number`);
  if (n < min) throw new UsageError(`${named(setting)}: must be at least ${min}${why}`);
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
  if (bucket === undefined || bucket === '') throw new UsageError('storage must be s3:<bucket>[/<prefix>]');
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
    return S3StorageBackend.open({
      bucket: s3.bucket,
      prefix: s3.prefix,
      endpoint: s3.endpoint,
      region: s3.region,
      unquotedIfMatch: s3.unquotedIfMatch,
    });
  }
  throw new Error('storage must be local:<dir> or s3:<bucket>[/<prefix>]');
}

async function openLease(
  spec: string,
  storageSpec: string,
  storage: StorageBackend,
  env: NodeJS.ProcessEnv,
): Promise<LeaseStore> {
  if (spec === 'storage') {
    if (storageSpec.startsWith('s3:')) {
      const s3 = s3Spec(storageSpec, env);
      const { S3LeaseStore } = await import('@hadb/lease-s3');
      // Refuses to open when the server's conditional writes are not atomic (two leaders otherwise).
      return S3LeaseStore.open({
        bucket: s3.bucket,
        prefix: `${s3.prefix}leases/`,
        endpoint: s3.endpoint,
        region: s3.region,
        unquotedIfMatch: s3.unquotedIfMatch,
      });
    }
    const { StorageLeaseStore } = await import('@hadb/lease');
    return new StorageLeaseStore(storage, { prefix: 'leases/' });
  }
  if (spec.startsWith('nats:')) {
    const { NatsLeaseStore } = await import('@hadb/lease-nats');
    return NatsLeaseStore.open({
      servers: spec.slice('nats:'.length).split(','),
      bucket: env.HADUCK_NATS_BUCKET || 'hadb-leases',
    });
  }
  if (spec.startsWith('etcd:')) {
    const { EtcdLeaseStore } = await import('@hadb/lease-etcd');
    return EtcdLeaseStore.open({
      hosts: spec.slice('etcd:'.length).split(','),
      prefix: env.HADUCK_ETCD_PREFIX || 'hadb/',
    });
  }
  throw new Error('lease must be storage, nats:<url>[,<url>…] or etcd:<url>[,<url>…]');
}

/** Opens the storage and lease clients the settings name and builds `HaDuck` options. */
export async function loadConfig(
  s: Settings,
  env: NodeJS.ProcessEnv,
  defaults: { writeRate: number },
): Promise<ExampleConfig> {
  // Everything that can be wrong with the settings is checked before anything is opened or made.
  const instanceId = s.instance?.value ?? `node-${process.pid}`;
  const [host, port] = splitHostPort(s.listen);
  const durability = (s.durability?.value ?? 'shipped') as Durability;
  if (durability !== 'shipped' && durability !== 'committed')
    throw new UsageError(`${named(s.durability!)}: must be shipped or committed`);
  const logLevel = s['log-level']?.value ?? 'warn';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel))
    throw new UsageError(`${named(s['log-level']!)}: must be debug, info, warn or error`);
  // The leader renews every 40 % of the TTL and each lease request gets that long: below 500 ms a
  // request to a real server cannot finish in time.
  const ttl = num(s['ttl-ms'], 5000, 500, ' (ms): renewals and each lease request get 40 % of it');
  const checkpoint = num(s['checkpoint-ms'], 1000);
  const pull = num(s['pull-ms'], 250);
  const writeRate = num(s['write-rate'], defaults.writeRate);
  const storageSpec = s.storage?.value;
  const leaseSpec = s.lease?.value ?? 'storage';
  if (storageSpec !== undefined && !/^(local:.+|s3:[^/].*)$/.test(storageSpec))
    throw new UsageError(`${named(s.storage!)}: must be local:<dir> or s3:<bucket>[/<prefix>]`);
  if (!/^(storage|nats:.+|etcd:.+)$/.test(leaseSpec))
    throw new UsageError(`${named(s.lease!)}: must be storage, nats:<url>[,<url>…] or etcd:<url>[,<url>…]`);

  const scratch =
    storageSpec === undefined || s.path === undefined ? mkdtempSync(join(tmpdir(), 'haduck-example-')) : undefined;
  const removeScratch = () => {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  };
  const storageOf = storageSpec ?? `local:${join(scratch!, 'storage')}`;
  let storage: StorageBackend;
  let lease: LeaseStore;
  try {
    storage = await openStorage(storageOf, env);
  } catch (err) {
    removeScratch();
    throw new Error(`${s.storage ? named(s.storage) : 'the temporary storage'}: cannot open the storage`, {
      cause: err,
    });
  }
  try {
    lease = await openLease(leaseSpec, storageOf, storage, env);
  } catch (err) {
    await storage.close();
    removeScratch();
    throw new Error(`${s.lease ? named(s.lease) : 'the lease object in the storage'}: cannot open the lease store`, {
      cause: err,
    });
  }
  return {
    haduck: {
      path: s.path?.value ?? join(scratch!, `${instanceId}.duckdb`),
      name: s.db?.value ?? 'demo',
      storage,
      // Lease timing follows the TTL setting: renew at 40 % of it, poll at 20 %, margin 20 % (at most
      // 1 s), so a short demo TTL (2 s) stays valid (core's defaults suit its 5 s default TTL).
      lease: {
        store: lease,
        ttlMs: ttl,
        renewIntervalMs: ttl * 0.4,
        pollIntervalMs: ttl / 5,
        skewMarginMs: Math.min(1000, ttl / 5),
      },
      prefix: s.prefix?.value ?? 'haduck/',
      instanceId,
      listen: { host, port },
      address: s.address?.value,
      secret: env.HADUCK_SECRET,
      checkpointIntervalMs: checkpoint,
      followerPullIntervalMs: pull,
      logger: stderrLogger(logLevel),
    },
    writeRate,
    writer: s.writer?.value ?? instanceId,
    durability,
    explain(error: unknown): unknown {
      if (!(error instanceof Error)) return error;
      for (const [flag, options] of Object.entries(OPTION_OF) as [Flag, readonly string[]][]) {
        if (!options.some((o) => new RegExp(`\\b${o}\\b`).test(error.message))) continue;
        const setting = s[flag];
        const what = setting ? named(setting) : `the default of ${FLAGS[flag]}`;
        return new UsageError(`${what}: ${error.message}`, { cause: error.cause });
      }
      return error;
    },
    async close() {
      try {
        await lease.close();
        await storage.close();
      } finally {
        removeScratch();
      }
    },
  };
}

function splitHostPort(setting: Setting | undefined): [string, number] {
  if (setting === undefined) return ['127.0.0.1', 0];
  const value = setting.value;
  const i = value.lastIndexOf(':');
  if (i <= 0) throw new UsageError(`${named(setting)}: must be host:port`);
  const port = Number(value.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`${named(setting)}: port must be 0-65535`);
  return [value.slice(0, i), port];
}
