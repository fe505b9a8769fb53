import type { LeaseStore } from '@hadb/lease';
import type { StorageBackend } from '@hadb/storage';
import { resolveAgeKeys } from './age.js';
import { openLeaseStore, openStorage } from './backends.js';
import { requireStorage, type Settings } from './config.js';
import type { Io } from './output.js';
import { parseLeaseUrl, parseStorageUrl } from './urls.js';

/** What every command receives. */
export interface Context {
  readonly settings: Settings;
  readonly io: Io;
  /** Fires on SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  /** Draw progress bars (interactive stderr and not `--no-progress`). */
  readonly progress: boolean;
}

/**
 * Runs `fn` with the storage backend of the settings, closing it afterwards. Only writers pass
 * `create` (a missing `file://` directory is then created).
 */
export async function withStorage<T>(
  ctx: Context,
  fn: (storage: StorageBackend) => Promise<T>,
  options: { readonly create?: boolean } = {},
): Promise<T> {
  const target = parseStorageUrl(requireStorage(ctx.settings), ctx.settings.env);
  const { identities, recipients } = ctx.settings.age.value;
  const age = await resolveAgeKeys(identities, recipients, 'age keys');
  const storage = await openStorage(target, ctx.settings.env, ctx.signal, age, options);
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

/** Runs `fn` with the storage backend and the lease store of the settings, closing both afterwards. */
export async function withLease<T>(
  ctx: Context,
  fn: (store: LeaseStore, storage: StorageBackend) => Promise<T>,
): Promise<T> {
  const lease = parseLeaseUrl(ctx.settings.lease.value);
  return withStorage(ctx, async (storage) => {
    const store = await openLeaseStore(lease, storage, ctx.settings.env);
    try {
      return await fn(store, storage);
    } finally {
      await store.close();
    }
  });
}
