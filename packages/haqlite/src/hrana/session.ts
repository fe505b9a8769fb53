import type { HaQLite } from '../ha-qlite.js';
import { isHadbError } from '@hadb/io';
import { HaQLiteError, isHaQLiteError } from '../errors.js';
import type { Transaction } from '../leader.js';
import type { Statement, StatementResult } from '../sql.js';
import { EMPTY_RESULT } from './values.js';

/** Transaction control a stream handles itself. */
export type Control = 'begin' | 'commit' | 'rollback' | null;

/** Classifies a statement as transaction control (by its first keyword). */
export function controlOf(sql: string): Control {
  const m = /^\s*(?:--[^\n]*\n\s*)*([A-Za-z]+)/.exec(sql);
  const word = m?.[1]?.toUpperCase();
  if (word === 'BEGIN') return 'begin';
  if (word === 'COMMIT' || word === 'END') return 'commit';
  if (word === 'ROLLBACK' && !/^\s*ROLLBACK\s+(TRANSACTION\s+)?TO\b/i.test(sql)) return 'rollback';
  return null;
}

const ROLLBACK = Symbol('rollback');

function transactionOnFollower(cause?: unknown): HaQLiteError {
  return new HaQLiteError(
    'HADB_HAQLITE_TRANSACTION_ON_FOLLOWER',
    'this follower knows no reachable leader to hold the interactive transaction: retry once a leader is up, or send the statements as one batch()',
    { cause },
  );
}

type Op = {
  readonly run: (tx: Transaction) => Promise<StatementResult>;
  resolve(r: StatementResult): void;
  reject(e: unknown): void;
};

/**
 * An interactive transaction held across Hrana requests: `HaQLite.transaction()` on the leader
 * (it holds the write lock), fed one statement at a time until COMMIT or ROLLBACK.
 */
class HeldTransaction {
  #ops: (Op | { readonly end: boolean })[] = [];
  #wake: (() => void) | undefined;
  #done!: Promise<void>;

  static async begin(db: HaQLite): Promise<HeldTransaction> {
    const held = new HeldTransaction();
    let started!: () => void;
    const ready = new Promise<void>((resolve) => (started = resolve));
    held.#done = db.transaction(async (tx) => {
      started();
      for (;;) {
        const op = await held.#next();
        if ('end' in op) {
          if (op.end) return;
          throw ROLLBACK;
        }
        try {
          op.resolve(await op.run(tx));
        } catch (err) {
          op.reject(err);
        }
      }
    });
    await Promise.race([ready, held.#done]);
    return held;
  }

  #next(): Promise<Op | { readonly end: boolean }> {
    const op = this.#ops.shift();
    if (op !== undefined) return Promise.resolve(op);
    return new Promise((resolve) => {
      this.#wake = () => {
        this.#wake = undefined;
        resolve(this.#ops.shift()!);
      };
    });
  }

  #push(op: Op | { readonly end: boolean }): void {
    this.#ops.push(op);
    this.#wake?.();
  }

  run(stmt: Statement): Promise<StatementResult> {
    return new Promise((resolve, reject) =>
      this.#push({
        run: async (tx) => {
          try {
            return await tx.query(stmt.sql, stmt.args);
          } catch (err) {
            if (isHaQLiteError(err, 'HADB_HAQLITE_NOT_READ_ONLY')) return tx.execute(stmt.sql, stmt.args);
            throw err;
          }
        },
        resolve,
        reject,
      }),
    );
  }

  /** Commits (or rolls back) and resolves once the transaction ended. */
  async end(commit: boolean): Promise<void> {
    this.#push({ end: commit });
    try {
      await this.#done;
    } catch (err) {
      if (err !== ROLLBACK) throw err;
    }
  }
}

/**
 * A Hrana stream's SQL state on one node. Outside a transaction a read runs locally and a write
 * goes through `execute` (forwarded by a follower). BEGIN opens a transaction held on the leader
 * (a follower's server relays such a stream to the leader, see `relay.ts`; when it cannot, BEGIN
 * answers `HADB_HAQLITE_TRANSACTION_ON_FOLLOWER`; a libSQL client batch is run whole,
 * see `batch.ts`).
 */
export class StreamSession {
  #tx: HeldTransaction | undefined;
  /** A follower's stream that wrote reads from the leader afterwards (read-your-writes). */
  #wrote = false;

  constructor(readonly db: HaQLite) {}

  get autocommit(): boolean {
    return this.#tx === undefined;
  }

  async execute(stmt: Statement): Promise<StatementResult> {
    const control = controlOf(stmt.sql);
    if (control === 'begin') {
      if (this.#tx !== undefined)
        throw new HaQLiteError('HADB_HAQLITE_SQL', 'cannot start a transaction within a transaction');
      if (this.db.role !== 'leader') throw transactionOnFollower();
      try {
        this.#tx = await HeldTransaction.begin(this.db);
      } catch (err) {
        // Demoted between the check and the start.
        if (isHadbError(err, 'HADB_HA_NOT_LEADER')) throw transactionOnFollower(err);
        throw err;
      }
      return EMPTY_RESULT;
    }
    if (control !== null) {
      const tx = this.#tx;
      if (tx === undefined) throw new HaQLiteError('HADB_HAQLITE_SQL', `cannot ${control} - no transaction is active`);
      this.#tx = undefined;
      await tx.end(control === 'commit');
      return EMPTY_RESULT;
    }
    if (this.#tx !== undefined) return this.#tx.run(stmt);
    try {
      return await this.db.query(stmt.sql, stmt.args, { consistency: this.#wrote ? 'strong' : 'local' });
    } catch (err) {
      const follower = this.db.role !== 'leader';
      // On a follower a statement SQLite cannot prepare locally may refer to something the
      // replica has not applied yet: the leader decides (it returns rows for a read, too).
      if (!isHaQLiteError(err, 'HADB_HAQLITE_NOT_READ_ONLY') && !(follower && isHaQLiteError(err, 'HADB_HAQLITE_SQL')))
        throw err;
      if (follower) this.#wrote = true;
      return this.db.execute(stmt.sql, stmt.args);
    }
  }

  /** Runs statements as one transaction through `batch` (forwarded by a follower). */
  async batch(statements: readonly Statement[]): Promise<readonly StatementResult[]> {
    if (this.db.role !== 'leader') this.#wrote = true;
    return this.db.batch(statements);
  }

  /** Rolls back an open transaction (stream closed or expired). */
  async close(): Promise<void> {
    const tx = this.#tx;
    this.#tx = undefined;
    await tx?.end(false).catch(() => undefined);
  }
}
