import type { OpOptions } from '@hadb/io';
import type { WriteFence } from './fence.js';

/**
 * Runs queries against the local database. Engines (DuckDB, graph journal) implement it so the
 * coordinator-aware wrapper {@link leaderOnly} can refuse writes on a node that may not write.
 */
export interface Executor<Params = readonly unknown[], Result = unknown> {
  /** Runs `query` with `params`. Errors are the engine's own. */
  execute(query: string, params: Params, options?: OpOptions): Promise<Result>;
  /** Whether `query` may modify the database (such queries run only on the leader). Pure. */
  isMutation(query: string): boolean;
}

/** What {@link leaderOnly} needs from the coordinator. */
export interface WriteGuard {
  /**
   * The current write fence of `db`. Throws `HADB_CORE_NOT_LEADER` if this node is not the leader
   * and `HADB_CORE_FENCED` if its term is over.
   */
  checkWrite(db: string): WriteFence;
}

/**
 * Wraps an executor so mutations run only while this node holds a valid term for `db`: the fence
 * is checked before the mutation starts and its signal aborts the mutation if the term ends
 * mid-way. Reads pass through on every role. (Durability is still the replicator's job: it checks
 * the fence again before shipping.)
 */
export function leaderOnly<P, R>(executor: Executor<P, R>, guard: WriteGuard, db: string): Executor<P, R> {
  return {
    isMutation: (query) => executor.isMutation(query),
    async execute(query, params, options = {}) {
      if (!executor.isMutation(query)) return executor.execute(query, params, options);
      const fence = guard.checkWrite(db);
      const signal = options.signal === undefined ? fence.signal : AbortSignal.any([fence.signal, options.signal]);
      return executor.execute(query, params, { signal });
    },
  };
}
