import type { BigIntStats } from 'node:fs';
import { constants, lstatSync, realpathSync, type Stats } from 'node:fs';
import {
  link,
  lstat,
  mkdir,
  open,
  readdir,
  realpath,
  rename,
  rmdir,
  stat,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import {
  StorageError,
  assertSafeKey,
  assertSafePrefix,
  isStorageError,
  listAll,
  type CasResult,
  type GetStreamOptions,
  type ListOptions,
  type ListPage,
  type ListPageOptions,
  type ObjectInfo,
  type ObjectStream,
  type OpOptions,
  type PutStreamOptions,
  type PutStreamResult,
  type StorageBackend,
  type StorageCapabilities,
  type StoredObject,
} from '@hadb/storage';
import { type Clock, configChecker, systemClock, throwIfAborted } from '@hadb/io';
import { storageAborted, storageInvalidConfig } from '@hadb/storage';
import { etagOf } from './etag.js';
import { errno, fsError, keyConflict } from './fs-errors.js';
import { RESERVED, SourceError, TEMP_PREFIX, syncPath, writeTemp, type TempFile } from './fs-write.js';
import {
  LOCK_DIR_NAME as LOCKS,
  acquireLock,
  isOrphanTag,
  ownerTag,
  sweepDeadTickets,
  sweepOwners,
} from './key-lock.js';
import { probeFileSystem } from './probe.js';
import { fileBody, readAt } from './read-body.js';
import { walkPage } from './walk.js';

/** Options of {@link LocalStorageBackend.open}. */
export interface LocalStorageOptions {
  /** Directory holding the objects; key `a/b` is the file `<root>/a/b`. */
  readonly root: string;
  /** Create `root` (and missing parents) if it does not exist. Default true. */
  readonly createRoot?: boolean | undefined;
  /**
   * fsync every written file and every directory whose entries changed, so an acknowledged write
   * survives power loss. Default true; `false` keeps atomicity but not durability.
   */
  readonly fsync?: boolean | undefined;
  /**
   * Longest wait for a key lock held by another live process before the write fails with
   * `HADB_STORAGE_UNAVAILABLE`. Default 30,000 ms.
   */
  readonly lockTimeoutMs?: number | undefined;
  /** Size of the chunks `getStream` yields (default 1 MiB); with a `pool`, the pool's `chunkBytes` instead. */
  readonly streamChunkBytes?: number | undefined;
  /** Files written or deleted at once by `putMany`/`deleteMany`. Default 8. */
  readonly batchConcurrency?: number | undefined;
  /** Time source of lock waits and timeouts. Default `systemClock`. */
  readonly clock?: Clock | undefined;
}

/** The checked options (`HADB_STORAGE_INVALID_CONFIG` for bad ones). */
function checkOptions(options: LocalStorageOptions) {
  const check = configChecker(storageInvalidConfig);
  check.string('root', options.root);
  return {
    createRoot: check.bool('createRoot', options.createRoot, true),
    durable: check.bool('fsync', options.fsync, true),
    lockTimeoutMs: check.int('lockTimeoutMs', options.lockTimeoutMs, { min: 0, default: 30_000 }),
    chunkBytes: check.int('streamChunkBytes', options.streamChunkBytes, { min: 1, default: 1024 * 1024 }),
    batchConcurrency: check.int('batchConcurrency', options.batchConcurrency, { min: 1, default: 8 }),
    clock: options.clock ?? systemClock,
  };
}

const DEFAULT_PAGE = 1000;

/**
 * A {@link StorageBackend} over a directory of plain files. Writes go to a temp file in the target
 * directory, are fsynced and then renamed (or, for create-only writes, hard-linked) into place, so
 * readers see whole objects only. Conditional writes are atomic across processes on one host
 * through a crash-safe per-key lock. See the package README for the exact guarantees and limits.
 *
 * Create it with {@link LocalStorageBackend.open}.
 */
export class LocalStorageBackend implements StorageBackend {
  readonly name = 'local';
  readonly capabilities: StorageCapabilities = {
    atomicConditionalWrites: true,
    conditionalStreamingWrites: true,
    uniqueEtags: true,
  };
  #closed = false;
  readonly #lockRoot: string;
  readonly #durable: boolean;
  readonly #lockTimeoutMs: number;
  readonly #chunkBytes: number;
  readonly #batchConcurrency: number;
  readonly #clock: Clock;

  private constructor(
    /** The resolved (real) path of the root directory. */
    readonly root: string,
    options: ReturnType<typeof checkOptions>,
  ) {
    this.#lockRoot = join(root, LOCKS);
    this.#durable = options.durable;
    this.#lockTimeoutMs = options.lockTimeoutMs;
    this.#chunkBytes = options.chunkBytes;
    this.#batchConcurrency = options.batchConcurrency;
    this.#clock = options.clock;
  }

  /**
   * Opens (and by default creates) the root directory and probes the file system: it must keep
   * microsecond modification times and support hard links, or this rejects with
   * `HADB_STORAGE_UNSUPPORTED`. Bad options reject with `HADB_STORAGE_INVALID_CONFIG` before any I/O.
   */
  static async open(options: LocalStorageOptions): Promise<LocalStorageBackend> {
    const checked = checkOptions(options);
    let root: string;
    try {
      if (checked.createRoot) await mkdir(options.root, { recursive: true });
      root = await realpath(options.root);
      if (!(await stat(root)).isDirectory())
        throw new StorageError('HADB_STORAGE_IO', 'storage root is not a directory');
    } catch (error) {
      throw fsError('open storage root', error);
    }
    await probeFileSystem(root);
    await sweepOwners(join(root, LOCKS));
    return new LocalStorageBackend(root, checked);
  }

  /** The file of `key`: checked with assertSafeKey, reserved names refused, and kept under the root. */
  #pathOf(key: string): string {
    assertSafeKey(key);
    if (key.split('/').some((segment) => segment.startsWith(RESERVED))) {
      throw new StorageError(
        'HADB_STORAGE_INVALID_KEY',
        `key rejected: segments starting with "${RESERVED}" are reserved by the local backend`,
      );
    }
    const path = resolve(this.root, ...key.split('/'));
    if (!path.startsWith(this.root + sep))
      throw new StorageError('HADB_STORAGE_INVALID_KEY', 'key rejected: escapes the storage root');
    return path;
  }

  /**
   * Refuses (`HADB_STORAGE_REJECTED`) a path that goes through a symbolic link below the root, or
   * is one: no operation follows a symlink, so a link planted in the tree cannot redirect reads or
   * writes outside it. Components that do not exist yet end the check (writes create them as
   * directories). Reads also open with `O_NOFOLLOW`, closing the gap between check and open for
   * the last component.
   *
   * The root is a real path, so a path whose `realpath(3)` is itself has no link in it. One
   * `realpath` resolves every component in the kernel's dentry cache (synchronously: a few
   * microseconds, cheaper than one thread-pool round trip per component). A path that does not
   * resolve is checked for being a (dangling) link itself, then its parent the same way.
   */
  #refuseSymlinks(path: string): void {
    const rejected = (cause?: unknown) =>
      new StorageError('HADB_STORAGE_REJECTED', 'key rejected: its path goes through a symbolic link', { cause });
    for (let p = path; p.length > this.root.length; p = dirname(p)) {
      let real: string;
      try {
        real = realpathSync.native(p);
      } catch (error) {
        const code = errno(error);
        if (code === 'ELOOP') throw rejected(error);
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
        let st: Stats | undefined;
        try {
          st = lstatSync(p);
        } catch (inner) {
          const c = errno(inner);
          if (c !== 'ENOENT' && c !== 'ENOTDIR') throw inner;
        }
        if (st?.isSymbolicLink()) throw rejected();
        continue;
      }
      if (real !== p) throw rejected();
      return;
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new StorageError('HADB_STORAGE_CLOSED', 'local storage backend is closed');
  }

  /** Checks state, key and signal (in that order) and returns the key's path. */
  #enter(key: string, options: OpOptions | undefined): string {
    this.#checkOpen();
    const path = this.#pathOf(key);
    throwIfAborted(options?.signal, storageAborted);
    return path;
  }

  async #io<T>(op: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof SourceError) throw error.cause;
      throw fsError(op, error);
    }
  }

  /** Stat of the object at `path`, or null if there is none (missing, or a directory). */
  async #statObject(path: string): Promise<BigIntStats | null> {
    try {
      const st = await lstat(path, { bigint: true });
      if (st.isSymbolicLink()) throw new StorageError('HADB_STORAGE_REJECTED', 'key rejected: it is a symbolic link');
      return st.isFile() ? st : null;
    } catch (error) {
      if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return null;
      throw error;
    }
  }

  /** Opens the object at `path` with its stat, or null if there is none. */
  async #openObject(path: string): Promise<{ fh: FileHandle; st: BigIntStats } | null> {
    let fh: FileHandle;
    try {
      fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR' || errno(error) === 'EISDIR') return null;
      if (errno(error) === 'ELOOP') {
        throw new StorageError('HADB_STORAGE_REJECTED', 'key rejected: it is a symbolic link', { cause: error });
      }
      throw error;
    }
    try {
      const st = await fh.stat({ bigint: true });
      if (st.isFile()) return { fh, st };
    } catch (error) {
      await fh.close();
      throw error;
    }
    await fh.close();
    return null;
  }

  async get(key: string, options?: OpOptions): Promise<StoredObject | null> {
    const path = this.#enter(key, options);
    return this.#io('get', async () => {
      this.#refuseSymlinks(path);
      const object = await this.#openObject(path);
      if (object === null) return null;
      try {
        return { data: await readAt(object.fh, 0, Number(object.st.size)), etag: etagOf(object.st) };
      } finally {
        await object.fh.close();
      }
    });
  }

  async head(key: string, options?: OpOptions): Promise<ObjectInfo | null> {
    const path = this.#enter(key, options);
    return this.#io('head', async () => {
      this.#refuseSymlinks(path);
      const st = await this.#statObject(path);
      return st === null ? null : { size: Number(st.size), etag: etagOf(st) };
    });
  }

  async exists(key: string, options?: OpOptions): Promise<boolean> {
    return (await this.head(key, options)) !== null;
  }

  async put(key: string, data: Uint8Array, options?: OpOptions): Promise<{ readonly etag: string }> {
    const path = this.#enter(key, options);
    return this.#io('put', async () => {
      this.#refuseSymlinks(path);
      const temp = await this.#writeTemp(path, data, options?.signal, true);
      await this.#replace(key, path, temp, undefined, options?.signal);
      return { etag: etagOf(temp.stats) };
    });
  }

  async putIfAbsent(key: string, data: Uint8Array, options?: OpOptions): Promise<CasResult> {
    const path = this.#enter(key, options);
    return this.#io('putIfAbsent', async () => {
      this.#refuseSymlinks(path);
      if ((await this.#statObject(path)) !== null) return { success: false };
      const temp = await this.#writeTemp(path, data, options?.signal, false);
      return this.#linkIntoPlace(key, path, temp, options?.signal);
    });
  }

  async putIfMatch(key: string, data: Uint8Array, etag: string, options?: OpOptions): Promise<CasResult> {
    const path = this.#enter(key, options);
    return this.#io('putIfMatch', async () => {
      this.#refuseSymlinks(path);
      const current = await this.#statObject(path);
      if (current === null || etagOf(current) !== etag) return { success: false };
      const temp = await this.#writeTemp(path, data, options?.signal, false);
      const replaced = await this.#replace(key, path, temp, etag, options?.signal);
      return replaced ? { success: true, etag: etagOf(temp.stats) } : { success: false };
    });
  }

  async delete(key: string, options?: OpOptions): Promise<void> {
    const path = this.#enter(key, options);
    await this.#io('delete', async () => {
      this.#refuseSymlinks(path);
      await this.#remove(key, path, options?.signal);
    });
  }

  async rangeGet(key: string, start: number, length: number, options?: OpOptions): Promise<Uint8Array | null> {
    const path = this.#enter(key, options);
    checkRange(start, length);
    return this.#io('rangeGet', async () => {
      this.#refuseSymlinks(path);
      const object = await this.#openObject(path);
      if (object === null) return null;
      try {
        const available = Math.max(0, Math.min(length, Number(object.st.size) - start));
        return available === 0 ? new Uint8Array(0) : await readAt(object.fh, start, available);
      } finally {
        await object.fh.close();
      }
    });
  }

  async list(prefix: string, options?: ListOptions): Promise<string[]> {
    this.#checkPrefix(prefix, options);
    return listAll((p, o) => this.listPage(p, o), prefix, options);
  }

  async listPage(prefix: string, options?: ListPageOptions): Promise<ListPage> {
    this.#checkPrefix(prefix, options);
    const limit = options?.limit ?? DEFAULT_PAGE;
    if (!Number.isInteger(limit) || limit < 1)
      throw new StorageError('HADB_STORAGE_REJECTED', 'limit must be a positive integer');
    return this.#io('list', async () => {
      const dir = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
      if (dir !== '') this.#refuseSymlinks(resolve(this.root, ...dir.split('/')));
      const page = await walkPage(this.root, prefix, options?.after, Math.min(limit, DEFAULT_PAGE), options?.signal);
      return { keys: page.keys, nextAfter: page.more ? page.keys[page.keys.length - 1] : undefined };
    });
  }

  #checkPrefix(prefix: string, options: OpOptions | undefined): void {
    this.#checkOpen();
    assertSafePrefix(prefix);
    if (prefix.split('/').some((segment) => segment.startsWith(RESERVED))) {
      throw new StorageError(
        'HADB_STORAGE_INVALID_KEY',
        `prefix rejected: segments starting with "${RESERVED}" are reserved`,
      );
    }
    throwIfAborted(options?.signal, storageAborted);
  }

  async deleteMany(keys: readonly string[], options?: OpOptions): Promise<number> {
    this.#checkOpen();
    const paths = keys.map((key) => this.#pathOf(key));
    throwIfAborted(options?.signal, storageAborted);
    const dirs = new Set<string>();
    const failures = await this.#batch(keys.length, (i) =>
      this.#io('delete', async () => {
        this.#refuseSymlinks(paths[i]!);
        await this.#remove(keys[i]!, paths[i]!, options?.signal, dirs);
      }),
    );
    await this.#io('deleteMany', () => this.#syncDirs(dirs));
    for (const dir of dirs) await this.#pruneEmptyDirs(dir);
    this.#raiseBatch('deleteMany', keys, failures, options?.signal);
    return keys.length;
  }

  async putMany(
    entries: Iterable<{ readonly key: string; readonly data: Uint8Array }>,
    options?: OpOptions,
  ): Promise<void> {
    this.#checkOpen();
    const list = [...entries];
    const paths = list.map((e) => this.#pathOf(e.key));
    throwIfAborted(options?.signal, storageAborted);
    const dirs = new Set<string>();
    const failures = await this.#batch(list.length, (i) =>
      this.#io('put', async () => {
        this.#refuseSymlinks(paths[i]!);
        const temp = await this.#writeTemp(paths[i]!, list[i]!.data, options?.signal, true);
        await this.#replace(list[i]!.key, paths[i]!, temp, undefined, options?.signal, dirs);
      }),
    );
    await this.#io('putMany', () => this.#syncDirs(dirs));
    this.#raiseBatch(
      'putMany',
      list.map((e) => e.key),
      failures,
      options?.signal,
    );
  }

  async getStream(key: string, options?: GetStreamOptions): Promise<ObjectStream | null> {
    const path = this.#enter(key, options);
    const start = options?.start ?? 0;
    const length = options?.length ?? Number.MAX_SAFE_INTEGER;
    checkRange(start, length);
    return this.#io('getStream', async () => {
      this.#refuseSymlinks(path);
      const object = await this.#openObject(path);
      if (object === null) return null;
      const size = Number(object.st.size);
      const end = Math.min(size, start + length);
      return {
        size,
        etag: etagOf(object.st),
        body: fileBody(object.fh, start, Math.max(start, end), this.#chunkBytes, options?.signal, options?.pool),
      };
    });
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array>, options?: PutStreamOptions): Promise<PutStreamResult> {
    const path = this.#enter(key, options);
    return this.#io('putStream', async () => {
      this.#refuseSymlinks(path);
      if (options?.ifAbsent && (await this.#statObject(path)) !== null) return { success: false };
      const temp = await this.#writeTemp(path, body, options?.signal, !options?.ifAbsent);
      const size = Number(temp.stats.size);
      if (options?.ifAbsent) {
        const result = await this.#linkIntoPlace(key, path, temp, options.signal);
        return result.success ? { success: true, etag: result.etag, size } : { success: false };
      }
      await this.#replace(key, path, temp, undefined, options?.signal);
      return { success: true, etag: etagOf(temp.stats), size };
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  /**
   * Removes what crashed writers left behind, all of it invisible to readers: temp files of dead
   * processes, their lock tickets and owner files. Files of live processes (also of other hosts
   * or pid namespaces, which cannot be judged) are kept. Safe to run at any time, from any
   * process; walks the whole tree, so run it at startup or from maintenance jobs, not per write.
   */
  async removeOrphans(options?: OpOptions): Promise<{ tempFiles: number; tickets: number }> {
    this.#checkOpen();
    throwIfAborted(options?.signal, storageAborted);
    return this.#io('removeOrphans', async () => {
      let tempFiles = 0;
      const visit = async (dir: string): Promise<void> => {
        throwIfAborted(options?.signal, storageAborted);
        for (const d of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
          const path = join(dir, d.name);
          if (d.isDirectory() && path !== this.#lockRoot) await visit(path);
          else if (d.isFile() && d.name.startsWith(TEMP_PREFIX)) {
            const tag = d.name.slice(TEMP_PREFIX.length, d.name.lastIndexOf('-'));
            if (await isOrphanTag(this.#lockRoot, tag)) {
              await unlink(path).catch(() => {});
              tempFiles++;
            }
          }
        }
      };
      await visit(this.root);
      const tickets = await sweepDeadTickets(this.#lockRoot);
      await sweepOwners(this.#lockRoot);
      return { tempFiles, tickets };
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Writes a temp file next to `path`; `sync` fsyncs it now (unconditional writes, before taking the lock). */
  async #writeTemp(
    path: string,
    source: Uint8Array | AsyncIterable<Uint8Array>,
    signal: AbortSignal | undefined,
    sync: boolean,
  ): Promise<TempFile> {
    // No mkdir up front: writeTemp creates missing directories when its open fails with ENOENT.
    const ownerTagValue = await ownerTag(this.#lockRoot);
    const temp = await writeTemp(dirname(path), source, {
      durable: this.#durable,
      sync: sync && this.#durable,
      signal,
      ownerTag: ownerTagValue,
    });
    if (this.#closed) {
      await unlink(temp.path).catch(() => {});
      this.#checkOpen();
    }
    return temp;
  }

  /** fsyncs each directory in `dirs` (when durable); one pruned meanwhile has nothing left to persist. */
  async #syncDirs(dirs: Iterable<string>): Promise<void> {
    if (!this.#durable) return;
    await Promise.all(
      [...dirs].map((d) =>
        syncPath(d).catch((error: unknown) => {
          if (errno(error) !== 'ENOENT') throw error;
        }),
      ),
    );
  }

  /**
   * Renames `temp` over `path` under the key lock; with `ifEtag`, only if the current object still
   * has that etag (returns false otherwise), and the temp file is fsynced only once it is known to
   * win. The directory is fsynced after the lock is released, or added to `dirs` for the caller
   * to sync once per batch; the write is reported only after that. The temp file is removed on
   * every path that does not publish it.
   */
  async #replace(
    key: string,
    path: string,
    temp: TempFile,
    ifEtag: string | undefined,
    signal: AbortSignal | undefined,
    dirs?: Set<string>,
  ): Promise<boolean> {
    let release: (() => Promise<void>) | undefined;
    try {
      release = await acquireLock(this.#lockRoot, key, signal, this.#lockTimeoutMs, this.#clock);
      if (ifEtag !== undefined) {
        const current = await this.#statObject(path);
        if (current === null || etagOf(current) !== ifEtag) {
          await unlink(temp.path).catch(() => {});
          return false;
        }
        if (this.#durable) await syncPath(temp.path, true);
      }
      throwIfAborted(signal, storageAborted);
      try {
        await rename(temp.path, path);
      } catch (error) {
        if (['EISDIR', 'ENOTEMPTY', 'EEXIST', 'ENOTDIR'].includes(errno(error) ?? '')) throw keyConflict('put', error);
        throw error;
      }
    } catch (error) {
      await unlink(temp.path).catch(() => {});
      throw error;
    } finally {
      await release?.();
    }
    if (dirs !== undefined) dirs.add(dirname(path));
    else await this.#syncDirs([dirname(path)]);
    return true;
  }

  /**
   * Publishes `temp` at `path` only if no object is there: under the key lock, checks, fsyncs the
   * temp file, then hard-links it into place (`link` fails on an existing name, so even a writer
   * that ignores the lock cannot be clobbered) and drops the temp name.
   */
  async #linkIntoPlace(key: string, path: string, temp: TempFile, signal: AbortSignal | undefined): Promise<CasResult> {
    let release: (() => Promise<void>) | undefined;
    try {
      release = await acquireLock(this.#lockRoot, key, signal, this.#lockTimeoutMs, this.#clock);
      if ((await this.#statObject(path)) !== null) return { success: false };
      if (this.#durable) await syncPath(temp.path, true);
      throwIfAborted(signal, storageAborted);
      try {
        await link(temp.path, path);
      } catch (error) {
        if (errno(error) !== 'EEXIST') throw error;
        if ((await this.#statObject(path)) === null) throw keyConflict('putIfAbsent', error);
        return { success: false };
      }
    } finally {
      await unlink(temp.path).catch(() => {});
      await release?.();
    }
    await this.#syncDirs([dirname(path)]);
    return { success: true, etag: etagOf(temp.stats) };
  }

  async #remove(key: string, path: string, signal: AbortSignal | undefined, dirs?: Set<string>): Promise<void> {
    const release = await acquireLock(this.#lockRoot, key, signal, this.#lockTimeoutMs, this.#clock);
    try {
      await unlink(path);
    } catch (error) {
      // Missing, or a directory (a prefix of other keys, not an object): nothing to delete.
      if (['ENOENT', 'ENOTDIR', 'EISDIR'].includes(errno(error) ?? '')) return;
      throw error;
    } finally {
      await release();
    }
    if (dirs !== undefined) {
      dirs.add(dirname(path));
      return;
    }
    await this.#syncDirs([dirname(path)]);
    await this.#pruneEmptyDirs(dirname(path));
  }

  /** Removes now-empty parent directories up to (not including) the root; stops at the first non-empty one. */
  async #pruneEmptyDirs(dir: string): Promise<void> {
    for (let d = dir; d.startsWith(this.root + sep); d = dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        return;
      }
    }
  }

  /** Runs `count` tasks, `batchConcurrency` at a time; returns the failures by index. */
  async #batch(count: number, task: (i: number) => Promise<unknown>): Promise<Map<number, unknown>> {
    const failures = new Map<number, unknown>();
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        try {
          await task(i);
        } catch (error) {
          failures.set(i, error);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#batchConcurrency, count) }, worker));
    return failures;
  }

  #raiseBatch(
    op: string,
    keys: readonly string[],
    failures: Map<number, unknown>,
    signal: AbortSignal | undefined,
  ): void {
    if (failures.size === 0) return;
    throwIfAborted(signal, storageAborted);
    const errors = [...failures.values()];
    if (errors.every((e) => isStorageError(e, 'HADB_STORAGE_CLOSED'))) throw errors[0];
    const failedKeys = [...failures.keys()].sort((a, b) => a - b).map((i) => keys[i]!);
    throw new StorageError(
      'HADB_STORAGE_PARTIAL_FAILURE',
      `${op}: ${failedKeys.length} of ${keys.length} keys failed`,
      {
        cause: errors[0],
        failedKeys,
      },
    );
  }
}

function checkRange(start: number, length: number): void {
  if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new StorageError('HADB_STORAGE_REJECTED', 'range start and length must be non-negative integers');
  }
}
