import { stat } from 'node:fs/promises';
import type { LeaseStore } from '@hadb/lease';
import type { StorageBackend } from '@hadb/storage';
import { CliError } from './errors.js';
import type { LeaseTarget, StorageTarget } from './urls.js';

/**
 * Every backend the command line can open, as literal `import()` calls (so bundlers and
 * `npm ls` see them) with the package to install when one is missing.
 */
const MODULES = {
  'storage-local': { pkg: '@hadb/storage-local', load: () => import('@hadb/storage-local') },
  'storage-s3': { pkg: '@hadb/storage-s3', load: () => import('@hadb/storage-s3') },
  'storage-age': { pkg: '@hadb/storage-age', load: () => import('@hadb/storage-age') },
  walstream: { pkg: '@hadb/walstream', load: () => import('@hadb/walstream') },
  admin: { pkg: '@hadb/admin', load: () => import('@hadb/admin') },
  lease: { pkg: '@hadb/lease', load: () => import('@hadb/lease') },
  'lease-nats': { pkg: '@hadb/lease-nats', load: () => import('@hadb/lease-nats') },
  'lease-etcd': { pkg: '@hadb/lease-etcd', load: () => import('@hadb/lease-etcd') },
} as const;

type ModuleName = keyof typeof MODULES;

/** Loads one backend package; a missing package is `HADB_CLI_MISSING_BACKEND` with the install line. */
export async function loadBackend<N extends ModuleName>(
  name: N,
): Promise<Awaited<ReturnType<(typeof MODULES)[N]['load']>>> {
  const entry = MODULES[name];
  try {
    return (await entry.load()) as Awaited<ReturnType<(typeof MODULES)[N]['load']>>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      String((error as Error).message).includes(entry.pkg)
    ) {
      throw new CliError(
        'HADB_CLI_MISSING_BACKEND',
        `backend package ${entry.pkg} is not installed; install it with: npm install ${entry.pkg}`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}

/** AWS credentials from the usual variables, or `undefined` to let the SDK's default chain decide. */
export function awsCredentials(
  env: NodeJS.ProcessEnv,
): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (accessKeyId === undefined || accessKeyId === '' || secretAccessKey === undefined || secretAccessKey === '')
    return undefined;
  const sessionToken = env.AWS_SESSION_TOKEN;
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/** Age keys of encrypted storage (see `age.ts`). */
export interface AgeKeys {
  readonly recipients: readonly string[];
  readonly identities: readonly string[];
}

/** Options of {@link openStorage}. */
export interface OpenStorageOptions {
  /** Create a missing `file` directory (the replicator). */
  readonly create?: boolean | undefined;
  /** Called when the S3 backend's circuit breaker opens, with the consecutive failures. */
  readonly onBreakerOpen?: ((failures: number) => void) | undefined;
}

/**
 * Opens the storage backend of `target`, wrapped in age encryption when `age` has identities;
 * the caller closes it. A `file` directory is created only with `create` (the replicator).
 */
export async function openStorage(
  target: StorageTarget,
  env: NodeJS.ProcessEnv,
  signal?: AbortSignal,
  age?: AgeKeys,
  options: OpenStorageOptions = {},
): Promise<StorageBackend> {
  const inner = await openPlainStorage(target, env, signal, options);
  if (age === undefined || age.identities.length === 0) return inner;
  try {
    const { encryptedStorage } = await loadBackend('storage-age');
    return await encryptedStorage(inner, age);
  } catch (error) {
    await inner.close();
    throw error;
  }
}

async function openPlainStorage(
  target: StorageTarget,
  env: NodeJS.ProcessEnv,
  signal: AbortSignal | undefined,
  options: OpenStorageOptions,
): Promise<StorageBackend> {
  const create = options.create ?? false;
  if (target.kind === 'file') {
    const { LocalStorageBackend } = await loadBackend('storage-local');
    // Readers never create the directory: a typo in the path is an error, not an empty store.
    if (!create) {
      try {
        await stat(target.root);
      } catch (error) {
        throw new CliError(
          'HADB_CLI_STORAGE',
          `storage directory ${target.root} is not accessible (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        );
      }
    }
    return LocalStorageBackend.open({ root: target.root, createRoot: create });
  }
  const { S3StorageBackend } = await loadBackend('storage-s3');
  const credentials = awsCredentials(env);
  return S3StorageBackend.open({
    bucket: target.bucket,
    prefix: target.prefix,
    endpoint: target.endpoint,
    region: target.region ?? 'us-east-1',
    forcePathStyle: target.forcePathStyle,
    unquotedIfMatch: target.unquotedIfMatch,
    ...(credentials === undefined ? {} : { credentials }),
    ...(options.onBreakerOpen === undefined ? {} : { retry: { circuitBreaker: { onOpen: options.onBreakerOpen } } }),
    signal,
  });
}

/**
 * Opens the lease store of `target`. A `storage` target is the lease object beside the data
 * (`{db}/_lease.json`) on `storage`, which stays owned by the caller.
 */
export async function openLeaseStore(
  target: LeaseTarget,
  storage: StorageBackend,
  env: NodeJS.ProcessEnv,
): Promise<LeaseStore> {
  switch (target.kind) {
    case 'storage': {
      const { StorageLeaseStore } = await loadBackend('lease');
      return new StorageLeaseStore(storage);
    }
    case 'nats': {
      const { NatsLeaseStore } = await loadBackend('lease-nats');
      const auth =
        env.NATS_TOKEN !== undefined && env.NATS_TOKEN !== ''
          ? { token: env.NATS_TOKEN }
          : env.NATS_USER !== undefined && env.NATS_USER !== ''
            ? { user: env.NATS_USER, pass: env.NATS_PASSWORD ?? '' }
            : {};
      return NatsLeaseStore.open({ servers: target.servers, bucket: target.bucket, connectOptions: auth });
    }
    case 'etcd': {
      const { EtcdLeaseStore } = await loadBackend('lease-etcd');
      const auth =
        env.ETCD_USERNAME !== undefined && env.ETCD_USERNAME !== ''
          ? { auth: { username: env.ETCD_USERNAME, password: env.ETCD_PASSWORD ?? '' } }
          : {};
      return EtcdLeaseStore.open({ hosts: target.hosts, prefix: target.prefix, clientOptions: auth });
    }
  }
}
