import { basename, extname, resolve, sep } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { HaError } from '@hadb/ha';
import { checkConfig } from './errors.js';
import { quoteIdent, quoteString, type DuckHandle } from './duck-host.js';

/** Options of {@link DuckSharedInstance.open}. */
export interface DuckSharedInstanceOptions {
  /**
   * Directories that hold every database file (and its WAL) attached to this instance: DuckDB's
   * `allowed_directories`, fixed for the instance's life. SQL run by any of its databases can
   * read and write files under them (`read_blob`, `COPY … TO`); nothing outside.
   */
  readonly directories: readonly string[];
  /**
   * DuckDB settings of the shared instance (e.g. `{ threads: '2', memory_limit: '1GB' }`): they
   * apply to every database in it, and are locked once it is open.
   */
  readonly duckdbConfig?: Readonly<Record<string, string>> | undefined;
}

/**
 * One DuckDB instance in which several `HaDuck` databases of one process live, each file
 * `ATTACH`ed under its own catalog name (`USE`d by each of its connections, checkpointed with
 * `CHECKPOINT <name>`, `DETACH`ed on close or demotion, re-attached read-only on each follower
 * swap). Built-in catalogs, worker threads and the buffer pool are shared: an additional database
 * costs 30–40 % of the memory of an instance of its own, and no thread (see the `scale` bench).
 *
 * **Only for databases that trust each other.** SQL run through any database can name the others'
 * catalogs (`SELECT * FROM other.main.t`, `INSERT INTO other.main.t …` — bypassing the other
 * database's leader checks and idempotency tokens), and read or write files under
 * {@link DuckSharedInstanceOptions.directories}. Never share an instance between tenants.
 *
 * Pass it as `sharedInstance` to each `HaDuck.open`; close it after every database using it is
 * closed. `close()` is also `Symbol.asyncDispose`.
 */
export class DuckSharedInstance {
  readonly #instance: DuckDBInstance;
  readonly #directories: readonly string[];
  /** Runs ATTACH/DETACH, one at a time (see {@link #admin}). */
  readonly #conn: DuckDBConnection;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #names = new Set<string>();
  #closed = false;

  private constructor(instance: DuckDBInstance, conn: DuckDBConnection, directories: readonly string[]) {
    this.#instance = instance;
    this.#conn = conn;
    this.#directories = directories;
  }

  /**
   * Creates the instance (in memory; no database file of its own) with DuckDB's file system
   * closed to SQL except `directories`, DuckDB's own checkpoints off and its configuration locked.
   * Bad options throw `HADB_HADUCK_INVALID_CONFIG`.
   */
  static async open(options: DuckSharedInstanceOptions): Promise<DuckSharedInstance> {
    checkConfig.require(
      Array.isArray(options.directories) &&
        options.directories.length > 0 &&
        options.directories.every((d) => typeof d === 'string' && d.length > 0),
      'directories must be a non-empty list of paths',
    );
    const config = options.duckdbConfig ?? {};
    checkConfig.require(
      typeof config === 'object' && Object.values(config).every((v) => typeof v === 'string'),
      'duckdbConfig must map setting names to strings',
    );
    const directories = options.directories.map((d) => withSep(resolve(d)));
    // These are always set as below, whatever `duckdbConfig` says.
    const {
      enable_external_access: _access,
      lock_configuration: _lock,
      allowed_directories: _dirs,
      checkpoint_threshold: _threshold,
      ...rest
    } = config;
    // Only a leader's CHECKPOINT writes a file (duckblock ships what it wrote): DuckDB never checkpoints on its own.
    const instance = await DuckDBInstance.create(':memory:', { ...rest, checkpoint_threshold: '1000GB' });
    try {
      const conn = await instance.connect();
      // allowed_directories takes a list, which the C API's string config cannot express: set it by
      // SQL before access is closed, then lock.
      await conn.run(`SET allowed_directories = [${directories.map(quoteString).join(', ')}]`);
      await conn.run('SET enable_external_access = false');
      await conn.run('SET lock_configuration = true');
      return new DuckSharedInstance(instance, conn, directories);
    } catch (err) {
      instance.closeSync();
      throw err;
    }
  }

  /** Catalog names attached now (for diagnostics). */
  get attached(): readonly string[] {
    return [...this.#names];
  }

  /** Runs `fn` after every earlier ATTACH/DETACH settled. */
  #admin<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Attaches the database file at `path` (read-write, or `readOnly`) under a catalog name of its
   * own: the file name without extension, or with `_2`, `_3`… when taken. `path` must lie inside
   * one of the instance's directories (`HADB_HADUCK_INVALID_CONFIG`). Used by `HaDuck`.
   */
  async attach(path: string, options: { readonly readOnly?: boolean } = {}): Promise<DuckHandle> {
    const file = resolve(path);
    if (!this.#directories.some((d) => file.startsWith(d)))
      checkConfig.fail(`${file} is outside the shared instance's directories`);
    return this.#admin(async () => {
      if (this.#closed) throw new HaError('HADB_HA_CLOSED', 'the shared DuckDB instance is closed');
      const name = this.#freeName(file);
      await this.#conn.run(
        `ATTACH ${quoteString(file)} AS ${quoteIdent(name)}${options.readOnly === true ? ' (READ_ONLY)' : ''}`,
      );
      this.#names.add(name);
      let detached = false;
      return {
        connect: async () => {
          const conn = await this.#instance.connect();
          try {
            // Catalog and schema both named: a schema called like the catalog cannot capture it.
            await conn.run(`USE ${quoteIdent(name)}.main`);
          } catch (err) {
            conn.closeSync();
            throw err;
          }
          return conn;
        },
        checkpointSql: `CHECKPOINT ${quoteIdent(name)}`,
        close: () =>
          this.#admin(async () => {
            if (detached) return;
            detached = true;
            await this.#conn.run(`DETACH ${quoteIdent(name)}`);
            this.#names.delete(name);
          }),
      };
    });
  }

  #freeName(file: string): string {
    const base = basename(file, extname(file)).replace(/[^A-Za-z0-9_]/g, '_') || 'db';
    const reserved = (n: string): boolean =>
      this.#names.has(n) || ['memory', 'system', 'temp', 'main'].includes(n.toLowerCase());
    if (!reserved(base)) return base;
    for (let i = 2; ; i++) if (!reserved(`${base}_${i}`)) return `${base}_${i}`;
  }

  /**
   * Closes the instance (detaching whatever is still attached: close every `HaDuck` using it
   * first). Idempotent.
   */
  close(): Promise<void> {
    return this.#admin(async () => {
      if (this.#closed) return;
      this.#closed = true;
      this.#names.clear();
      this.#conn.closeSync();
      this.#instance.closeSync();
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function withSep(dir: string): string {
  return dir.endsWith(sep) ? dir : `${dir}${sep}`;
}
