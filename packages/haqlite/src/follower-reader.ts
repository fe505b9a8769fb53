import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { HaError, type FollowerSide } from '@hadb/ha';
import type { OpOptions } from '@hadb/io';
import { runStatement } from './sql.js';
import type { SqliteReadOp, SqliteReadReply } from './wire.js';

/**
 * A follower's read side: a read-only connection to the replica (kept in rollback-journal mode by
 * walstream's `ReplicaWriter`, which applies each changeset under SQLite's EXCLUSIVE lock, so a
 * read never sees half a changeset). Reopened after each applied step, because a full restore
 * replaces the file by rename.
 */
export class SqliteFollowerReader implements FollowerSide<SqliteReadOp, SqliteReadReply> {
  #db: Database.Database | undefined;
  #closed = false;

  constructor(
    readonly path: string,
    readonly busyTimeoutMs = 5000,
  ) {}

  #open(): void {
    if (!existsSync(this.path)) return;
    const db = new Database(this.path, { readonly: true, fileMustExist: true });
    db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
    this.#db = db;
  }

  async start(): Promise<void> {
    if (this.#db === undefined && !this.#closed) this.#open();
  }

  async read(read: SqliteReadOp, _options: OpOptions = {}): Promise<SqliteReadReply> {
    if (this.#closed) throw new HaError('HADB_HA_CLOSED', 'database is closed');
    if ('hrana' in read) throw new HaError('HADB_HA_NOT_LEADER', 'a relayed Hrana pipeline runs only on the leader');
    if (this.#db === undefined) throw new HaError('HADB_HA_NOT_READY', 'this follower has no data yet');
    return runStatement(this.#db, read.sql, read.args, true);
  }

  async refresh(): Promise<void> {
    if (this.#closed) return;
    this.#db?.close();
    this.#db = undefined;
    this.#open();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#db?.close();
    this.#db = undefined;
  }
}
