import type { Clock } from '@hadb/io';
import { HaQLiteError } from '../errors.js';
import type { Statement, StatementResult } from '../sql.js';
import { controlOf, type StreamSession } from './session.js';

/** A Hrana batch condition. */
export type BatchCond =
  | { readonly type: 'ok' | 'error'; readonly step: number }
  | { readonly type: 'not'; readonly cond: BatchCond }
  | { readonly type: 'and' | 'or'; readonly conds: readonly BatchCond[] }
  | { readonly type: 'is_autocommit' };

/** One decoded batch step. */
export interface BatchStep {
  readonly condition: BatchCond | null;
  readonly stmt: Statement;
  readonly wantRows: boolean;
}

/** Outcome of each step: a result, an error, or `null` when skipped. */
export interface StepOutcome {
  readonly result: StatementResult | null;
  readonly error: unknown;
  readonly ms: number;
}

function evaluate(cond: BatchCond, out: readonly StepOutcome[], session: StreamSession): boolean {
  switch (cond.type) {
    case 'ok':
      return out[cond.step]?.result != null;
    case 'error':
      return out[cond.step] !== undefined && out[cond.step]!.error !== undefined && out[cond.step]!.error !== null;
    case 'not':
      return !evaluate(cond.cond, out, session);
    case 'and':
      return cond.conds.every((c) => evaluate(c, out, session));
    case 'or':
      return cond.conds.some((c) => evaluate(c, out, session));
    case 'is_autocommit':
      return session.autocommit;
    default:
      throw new HaQLiteError('HADB_HAQLITE_INVALID_VALUE', 'unknown batch condition');
  }
}

/**
 * The shape `@libsql/client` sends for `client.batch()`: BEGIN, statements each conditioned on
 * the previous step, COMMIT, ROLLBACK on failure. A follower runs the statements as one
 * forwarded `batch()` transaction instead of holding a transaction on the leader step by step.
 */
export function transactionalBatch(
  steps: readonly BatchStep[],
): { readonly inner: readonly number[]; readonly commit: number } | null {
  if (steps.length < 2 || controlOf(steps[0]!.stmt.sql) !== 'begin') return null;
  const inner: number[] = [];
  for (let i = 1; i < steps.length; i++) {
    const c = controlOf(steps[i]!.stmt.sql);
    if (c === 'commit')
      return steps.slice(i + 1).every((s) => controlOf(s.stmt.sql) === 'rollback') ? { inner, commit: i } : null;
    if (c !== null) return null;
    inner.push(i);
  }
  return null;
}

/** Runs a Hrana batch on a stream; each step's outcome in step order (`ms` timed with `clock`). */
export async function runBatch(
  session: StreamSession,
  steps: readonly BatchStep[],
  clock: Clock,
): Promise<StepOutcome[]> {
  const shape = session.db.role !== 'leader' && session.autocommit ? transactionalBatch(steps) : null;
  if (shape !== null) {
    const out: StepOutcome[] = steps.map(() => ({ result: null, error: null, ms: 0 }));
    const t0 = clock.now();
    try {
      const results = await session.batch(shape.inner.map((i) => steps[i]!.stmt));
      const ms = clock.now() - t0;
      out[0] = {
        result: { columns: [], decltypes: [], rows: [], rowsAffected: 0, lastInsertRowid: null },
        error: null,
        ms: 0,
      };
      shape.inner.forEach((stepIndex, k) => {
        out[stepIndex] = { result: results[k]!, error: null, ms };
      });
      out[shape.commit] = { result: out[0].result, error: null, ms: 0 };
    } catch (error) {
      out[0] = {
        result: { columns: [], decltypes: [], rows: [], rowsAffected: 0, lastInsertRowid: null },
        error: null,
        ms: 0,
      };
      out[shape.inner[0] ?? shape.commit] = { result: null, error, ms: clock.now() - t0 };
    }
    return out;
  }
  const out: StepOutcome[] = [];
  for (const step of steps) {
    if (step.condition !== null && !evaluate(step.condition, out, session)) {
      out.push({ result: null, error: null, ms: 0 });
      continue;
    }
    const t0 = clock.now();
    try {
      const result = await session.execute(step.stmt);
      out.push({ result, error: null, ms: clock.now() - t0 });
    } catch (error) {
      out.push({ result: null, error, ms: clock.now() - t0 });
    }
  }
  return out;
}
