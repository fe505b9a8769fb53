import { existsSync } from 'node:fs';
import { removeWalFiles } from '@hadb/duckblock';
import { HaError, RwGate, type FollowerSide } from '@hadb/ha';
import { ownInstance, type DuckHandle } from './duck-host.js';
import type { DuckSharedInstance } from './shared-instance.js';
import { runQuery, type QueryResult } from './sql.js';
import type { HaParams } from './values.js';
import type { DuckRead } from './wire.js';

/**
 * A follower's read side: a READ_ONLY DuckDB instance over the follower's private copy (or, with
 * a shared instance, the copy attached READ_ONLY to it), swapped (closed and reopened, or detached
 * and attached again) after every applied checkpoint. Reads share a gate; a swap takes it
 * exclusively, so reads pause only for close + open.
 *
 * Like the leader's, the instance has DuckDB's file system closed to SQL
 * (`enable_external_access=false`: no `read_csv('/etc/passwd')`, `COPY … TO`, `ATTACH`,
 * `INSTALL`) and its configuration locked (`lock_configuration=true`), whatever `duckdbConfig`
 * says: follower reads are reachable by anyone who may read.
 */
export class FollowerReader implements FollowerSide<DuckRead, QueryResult> {
  readonly path: string;
  readonly #config: Readonly<Record<string, string>>;
  readonly #gate = new RwGate();
  readonly #shared: DuckSharedInstance | undefined;
  #instance: DuckHandle | undefined;
  #closed = false;

  constructor(path: string, duckdbConfig: Readonly<Record<string, string>> = {}, shared?: DuckSharedInstance) {
    this.path = path;
    this.#shared = shared;
    this.#config = {
      ...duckdbConfig,
      access_mode: 'READ_ONLY',
      enable_external_access: 'false',
      lock_configuration: 'true',
    };
  }

  /** True when a READ_ONLY instance is open. */
  get ready(): boolean {
    return this.#instance !== undefined;
  }

  async #openInstance(): Promise<void> {
    if (!existsSync(this.path)) return;
    await removeWalFiles(this.path);
    this.#instance =
      this.#shared === undefined
        ? await ownInstance(this.path, this.#config)
        : await this.#shared.attach(this.path, { readOnly: true });
  }

  async #closeInstance(): Promise<void> {
    const instance = this.#instance;
    this.#instance = undefined;
    await instance?.close();
  }

  /** Runs a read-only statement against the current version. Throws `HADB_HA_NOT_READY` before the first version exists. */
  async query(sql: string, params?: HaParams): Promise<QueryResult> {
    return this.#gate.shared(async () => {
      if (this.#closed) throw new HaError('HADB_HA_CLOSED', 'database is closed');
      const instance = this.#instance;
      if (instance === undefined) throw new HaError('HADB_HA_NOT_READY', 'this follower has no data yet');
      const conn = await instance.connect();
      try {
        return await runQuery(conn, sql, params);
      } finally {
        conn.closeSync();
      }
    });
  }

  /** Runs a read request against the current version. */
  read(read: DuckRead): Promise<QueryResult> {
    return this.query(read.sql, read.params);
  }

  /** Closes and reopens the instance so reads see the version just applied (reads wait meanwhile). */
  async refresh(): Promise<void> {
    await this.#gate.exclusive(async () => {
      if (this.#closed) return;
      await this.#closeInstance();
      await this.#openInstance();
    });
  }

  /** Opens the first version if it exists (idempotent). */
  async start(): Promise<void> {
    await this.#gate.exclusive(async () => {
      if (this.#instance === undefined && !this.#closed) await this.#openInstance();
    });
  }

  /** Closes the instance; waits for running reads. Idempotent. */
  async close(): Promise<void> {
    await this.#gate.exclusive(async () => {
      this.#closed = true;
      await this.#closeInstance();
    });
  }
}
