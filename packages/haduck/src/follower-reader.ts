import { existsSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { removeWalFiles } from '@hadb/duckblock';
import { HaDuckError } from './errors.js';
import { RwGate } from './mutex.js';
import { runQuery, type QueryResult } from './sql.js';
import type { HaParams } from './values.js';

/** Read-pause statistics of a follower (time reads were blocked by swaps). */
export interface SwapStats {
  readonly swaps: number;
  /** Longest time, in ms, reads were blocked by one swap. */
  readonly maxPauseMs: number;
  /** Sum of all pauses, in ms. */
  readonly totalPauseMs: number;
  /** The most recent pauses (up to 1024), in ms, oldest first. */
  readonly recentPausesMs: readonly number[];
}

/**
 * A follower's read side: a READ_ONLY DuckDB instance over the follower's private copy, swapped
 * (closed and reopened) after every applied checkpoint. Reads share a gate; a swap takes it
 * exclusively, so reads pause only for close + open.
 */
export class FollowerReader {
  readonly path: string;
  readonly #config: Readonly<Record<string, string>>;
  readonly #gate = new RwGate();
  #instance: DuckDBInstance | undefined;
  #closed = false;
  #stats = { swaps: 0, maxPauseMs: 0, totalPauseMs: 0, recentPausesMs: [] as number[] };

  constructor(path: string, duckdbConfig: Readonly<Record<string, string>> = {}) {
    this.path = path;
    this.#config = { ...duckdbConfig, access_mode: 'READ_ONLY' };
  }

  get stats(): SwapStats {
    return { ...this.#stats, recentPausesMs: [...this.#stats.recentPausesMs] };
  }

  /** True when a READ_ONLY instance is open. */
  get ready(): boolean {
    return this.#instance !== undefined;
  }

  async #openInstance(): Promise<void> {
    if (!existsSync(this.path)) return;
    await removeWalFiles(this.path);
    this.#instance = await DuckDBInstance.create(this.path, this.#config);
  }

  #closeInstance(): void {
    const instance = this.#instance;
    this.#instance = undefined;
    instance?.closeSync();
  }

  /** Runs a read-only statement against the current version. Throws `HADB_HADUCK_NOT_READY` before the first version exists. */
  async query(sql: string, params?: HaParams): Promise<QueryResult> {
    return this.#gate.shared(async () => {
      if (this.#closed) throw new HaDuckError('HADB_HADUCK_CLOSED', 'database is closed');
      const instance = this.#instance;
      if (instance === undefined) throw new HaDuckError('HADB_HADUCK_NOT_READY', 'this follower has no data yet');
      const conn = await instance.connect();
      try {
        return await runQuery(conn, sql, params);
      } finally {
        conn.closeSync();
      }
    });
  }

  /**
   * Runs `apply` with reads paused and the instance closed (for multi-version applies, promotion
   * and restores), then reopens.
   */
  async withClosed<T>(apply: () => Promise<T>): Promise<T> {
    return this.#gate.exclusive(async () => {
      this.#closeInstance();
      try {
        return await apply();
      } finally {
        if (!this.#closed) await this.#openInstance();
      }
    });
  }

  /** Closes and reopens the instance so reads see the version just applied; records the pause. */
  async swap(): Promise<void> {
    const requested = performance.now();
    await this.#gate.exclusive(async () => {
      if (this.#closed) return;
      this.#closeInstance();
      await this.#openInstance();
      // From the moment new reads were held back (the swap queued) until they may run again.
      const pause = performance.now() - requested;
      this.#stats.swaps++;
      this.#stats.totalPauseMs += pause;
      if (pause > this.#stats.maxPauseMs) this.#stats.maxPauseMs = pause;
      this.#stats.recentPausesMs.push(pause);
      if (this.#stats.recentPausesMs.length > 1024) this.#stats.recentPausesMs.shift();
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
    await this.#gate.exclusive(() => {
      this.#closed = true;
      this.#closeInstance();
    });
  }
}
