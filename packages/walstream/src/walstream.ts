import { hostname } from 'node:os';
import { basename, resolve } from 'node:path';
import { startAdminServer, type AdminServer } from '@hadb/admin';
import { ConcurrencyLimiter, type OpOptions } from '@hadb/io';
import { WalstreamAdminSource } from './admin-source.js';
import { InlineWal, WalThread } from './wal-thread.js';
import { WalstreamError } from './errors.js';
import {
  checkName,
  resolveDatabase,
  resolveShared,
  type DatabaseOptions,
  type ResolvedShared,
  type WalstreamOptions,
} from './options.js';
import { DatabaseReplicator, type EngineContext, type FencingOptions } from './replicator.js';

/**
 * Replicates any number of SQLite databases to one storage backend, sharing an upload limiter,
 * a clock and a logger (per database: two SQLite connections, its position and the commits
 * captured but not yet stored). Create it with {@link Walstream.open}; `close()` ships what is
 * committed and releases every database.
 */
export class Walstream {
  readonly #dbs = new Map<string, DatabaseReplicator>();
  readonly #ctx: EngineContext;
  #closed = false;
  readonly #adminSource: WalstreamAdminSource;
  #adminServer: AdminServer | undefined;

  readonly #defaults: Omit<DatabaseOptions, 'name'>;

  private constructor(
    shared: ResolvedShared,
    defaults: Omit<DatabaseOptions, 'name'>,
    admin: WalstreamOptions['admin'],
  ) {
    this.#defaults = defaults;
    const source = (this.#adminSource = new WalstreamAdminSource({
      nodeId: admin?.nodeId ?? shared.nodeId ?? hostname(),
      clock: shared.clock,
      logger: shared.logger,
      databases: () => [...this.#dbs.values()].map((r) => r.status()),
    }));
    this.#ctx = {
      storage: shared.storage,
      prefix: shared.prefix,
      clock: shared.clock,
      logger: shared.logger,
      limiter: new ConcurrencyLimiter(shared.uploadConcurrency),
      wal: shared.walThread ? new WalThread() : new InlineWal(),
      synced: (db) => source.synced(db),
      syncFailed: (db, err) => source.failed(db, err),
      emit: (event) => {
        source.event(event);
        try {
          shared.onEvent(event);
        } catch (err) {
          shared.logger.warn({ err: String(err) }, 'walstream: onEvent threw');
        }
      },
    };
  }

  /** Checks the options (`HADB_WALSTREAM_INVALID_CONFIG`) and returns an empty replicator set. */
  static async open(options: WalstreamOptions): Promise<Walstream> {
    const shared = resolveShared(options);
    resolveDatabase(options);
    const ws = new Walstream(shared, options, options.admin);
    if (options.admin !== undefined) {
      const { nodeId: _nodeId, ...server } = options.admin;
      ws.#adminServer = await startAdminServer({
        clock: shared.clock,
        logger: shared.logger,
        ...server,
        sources: [ws.#adminSource],
      });
    }
    return ws;
  }

  /**
   * This process's `@hadb/admin` source (status, metrics and events of every database), for an
   * admin server the application runs itself — for example one server over several `Walstream`s
   * (give each a distinct `nodeId`). The `admin` option serves it directly.
   */
  get adminSource(): WalstreamAdminSource {
    return this.#adminSource;
  }

  /** The admin server's URL (`http://host:port/`) when the `admin` option is set. */
  get adminUrl(): string | undefined {
    return this.#adminServer?.url;
  }

  /**
   * Starts replicating the SQLite file at `path` (switching it to WAL mode) and resolves once it
   * has caught up with storage: the chain resumes when the local position, the WAL and storage
   * agree, otherwise a new lineage starts with a snapshot above the remote head. With `term` (a
   * fenced writer) it always starts a new lineage, at `claim` when given.
   */
  async add(path: string, options: DatabaseOptions & OpOptions & FencingOptions = {}): Promise<DatabaseReplicator> {
    if (this.#closed) throw new WalstreamError('HADB_WALSTREAM_CLOSED', 'walstream is closed');
    const name = checkName(options.name ?? basename(path));
    const resolved = resolveDatabase(this.#defaults, options);
    if (this.#dbs.has(name))
      throw new WalstreamError('HADB_WALSTREAM_DUPLICATE', `database '${name}' is already replicated`);
    for (const r of this.#dbs.values()) {
      if (r.path === resolve(path))
        throw new WalstreamError('HADB_WALSTREAM_DUPLICATE', `${path} is already replicated as '${r.name}'`);
    }
    const replicator = await DatabaseReplicator.open(name, resolve(path), resolved, this.#ctx, options);
    this.#dbs.set(name, replicator);
    return replicator;
  }

  /** The replicator of `name`, if added. */
  get(name: string): DatabaseReplicator | undefined {
    return this.#dbs.get(name);
  }

  /** Names of the replicated databases. */
  names(): string[] {
    return [...this.#dbs.keys()];
  }

  /** Stops replicating `name` (shipping what is committed first). */
  async remove(name: string, options: OpOptions = {}): Promise<void> {
    const r = this.#dbs.get(name);
    if (r === undefined) throw new WalstreamError('HADB_WALSTREAM_DUPLICATE', `database '${name}' is not replicated`);
    this.#dbs.delete(name);
    await r.close(options);
  }

  /** Ships every database's commits; resolves when all are stored. */
  async syncAll(options: OpOptions = {}): Promise<void> {
    await Promise.all([...this.#dbs.values()].map((r) => r.sync(options)));
  }

  /** Closes every database (final sync unless `final: false`). Idempotent; the storage backend stays open. */
  async close(options: OpOptions & { readonly final?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const admin = this.#adminServer;
    this.#adminServer = undefined;
    await admin?.close();
    this.#adminSource.close();
    const all = [...this.#dbs.values()];
    this.#dbs.clear();
    const results = await Promise.allSettled(all.map((r) => r.close(options)));
    await this.#ctx.wal.close();
    const failed = results.find((r) => r.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
