import type { HaQLite } from '../ha-qlite.js';
import { transactionalBatch, type BatchStep } from './batch.js';
import { controlOf } from './session.js';
import { RequestError, type HranaStreams } from './streams.js';

/**
 * Batons a follower hands out for a stream the leader holds: this prefix and the leader's own
 * baton. The follower keeps no state for them; the leader checks the baton and owns the stream.
 */
export const RELAY_PREFIX = '~';

type Body = { readonly baton?: unknown; readonly requests?: unknown };
type Request = Record<string, unknown>;

function sqlOf(raw: unknown, sqls: ReadonlyMap<number, string>): string | undefined {
  const s = raw as { sql?: unknown; sql_id?: unknown } | null;
  if (s === null || typeof s !== 'object') return undefined;
  if (typeof s.sql === 'string') return s.sql;
  return typeof s.sql_id === 'number' ? sqls.get(s.sql_id) : undefined;
}

/**
 * Whether a pipeline starts an interactive transaction a follower cannot run itself: an `execute`
 * of BEGIN, or a `batch` with a BEGIN step that is not the whole-transaction shape (BEGIN,
 * statements, COMMIT) a follower forwards as one `batch()`.
 */
export function needsLeader(requests: readonly Request[], sqls: ReadonlyMap<number, string>): boolean {
  const known = new Map(sqls);
  for (const r of requests) {
    if (r?.type === 'store_sql' && typeof r.sql_id === 'number' && typeof r.sql === 'string')
      known.set(r.sql_id, r.sql);
    if (r?.type === 'execute') {
      const sql = sqlOf(r.stmt, known);
      if (sql !== undefined && controlOf(sql) === 'begin') return true;
    }
    if (r?.type === 'batch') {
      const raw = (r.batch as { steps?: unknown } | null)?.steps;
      if (!Array.isArray(raw)) continue;
      const sqlsOfSteps = raw.map((step: { stmt?: unknown } | null) => sqlOf(step?.stmt, known));
      if (!sqlsOfSteps.some((sql) => sql !== undefined && controlOf(sql) === 'begin')) continue;
      if (sqlsOfSteps.some((sql) => sql === undefined)) return true;
      const steps = sqlsOfSteps.map((sql): BatchStep => ({ condition: null, stmt: { sql: sql! }, wantRows: true }));
      if (transactionalBatch(steps) === null) return true;
    }
  }
  return false;
}

function fromLeader(reply: unknown, skip: number): Record<string, unknown> {
  const r = reply as {
    baton?: unknown;
    results?: unknown;
    error?: { status?: unknown; message?: unknown; code?: unknown };
  };
  if (r?.error !== undefined) {
    const status = typeof r.error.status === 'number' ? r.error.status : 400;
    throw new RequestError(status, String(r.error.message ?? 'the leader refused the pipeline'), String(r.error.code));
  }
  if (!Array.isArray(r?.results))
    throw new RequestError(502, 'the leader answered a malformed pipeline', 'HADB_HA_PROTOCOL');
  return {
    baton: typeof r.baton === 'string' ? `${RELAY_PREFIX}${r.baton}` : null,
    base_url: null,
    results: r.results.slice(skip),
  };
}

/**
 * Runs a pipeline body on the leader when it belongs there, and returns its response; `undefined`
 * when this node runs it itself (on the leader, or when no transaction starts).
 *
 * A stream with a relayed baton goes to the leader; if the leader cannot be reached (failover,
 * leader gone) the client gets `STREAM_EXPIRED` — the leader's open transaction was never
 * committed and dies with its stream. A pipeline that starts an interactive transaction on a
 * follower opens a stream on the leader (carrying the SQL texts the client stored on this node's
 * stream, which it closes); when no leader is reachable it runs here and BEGIN answers
 * `HADB_HAQLITE_TRANSACTION_ON_FOLLOWER`.
 */
export async function relayPipeline(
  db: HaQLite,
  local: HranaStreams,
  body: unknown,
): Promise<Record<string, unknown> | undefined> {
  const b = body as Body | null;
  if (b === null || typeof b !== 'object' || !Array.isArray(b.requests)) return undefined;
  const requests = b.requests as Request[];
  if (typeof b.baton === 'string' && b.baton.startsWith(RELAY_PREFIX)) {
    let reply: unknown;
    try {
      reply = await db.relayHrana({ baton: b.baton.slice(RELAY_PREFIX.length), requests });
    } catch {
      throw new RequestError(
        400,
        'the stream is closed or expired: the leader holding it cannot be reached (its open transaction did not commit)',
        'STREAM_EXPIRED',
      );
    }
    return fromLeader(reply, 0);
  }
  if (db.role === 'leader') return undefined;
  const baton = typeof b.baton === 'string' ? b.baton : null;
  const sqls = baton === null ? new Map<number, string>() : local.storedSql(baton);
  if (sqls === undefined || !needsLeader(requests, sqls)) return undefined;
  const carried: Request[] = [...sqls].map(([id, sql]) => ({ type: 'store_sql', sql_id: id, sql }));
  let reply: unknown;
  try {
    reply = await db.relayHrana({ baton: null, requests: [...carried, ...requests] });
  } catch {
    return undefined;
  }
  if (baton !== null) await local.closeBaton(baton);
  return fromLeader(reply, carried.length);
}
