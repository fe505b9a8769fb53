import { randomBytes } from 'node:crypto';
import { isHadbError, type Clock, type Timer } from '@hadb/io';
import { HaQLiteError } from '../errors.js';
import type { HaQLite } from '../ha-qlite.js';
import type { Statement } from '../sql.js';
import type { SqlValue } from '../values.js';
import { runBatch, type BatchCond, type BatchStep } from './batch.js';
import { StreamSession } from './session.js';
import { fromHrana, stmtResult } from './values.js';

interface Stream {
  readonly id: string;
  baton: string;
  readonly session: StreamSession;
  readonly sqls: Map<number, string>;
  timer: Timer | undefined;
  /** Requests on a stream are serial; this is the tail. */
  busy: Promise<void>;
}

/** A pipeline-level failure: answered with `status` and `{message, code}`. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** Hrana's `Error`: SQLite's code when SQLite raised it, otherwise haqlite's. */
export function hranaError(err: unknown): { message: string; code: string } {
  const message = err instanceof Error ? err.message : String(err);
  const sqlite = (err as { sqliteCode?: unknown }).sqliteCode;
  if (typeof sqlite === 'string') return { message, code: sqlite };
  if (isHadbError(err)) return { message, code: err.code };
  return { message, code: 'HADB_HAQLITE_INTERNAL' };
}

function statement(raw: unknown, sqls: Map<number, string>): { stmt: Statement; wantRows: boolean } {
  const s = raw as Record<string, unknown> | null;
  if (s === null || typeof s !== 'object')
    throw new HaQLiteError('HADB_HAQLITE_INVALID_VALUE', 'stmt must be an object');
  const sql = sqlText(s, sqls);
  const args = Array.isArray(s.args) ? s.args.map(fromHrana) : [];
  const named = Array.isArray(s.named_args) ? s.named_args : [];
  let bound: Statement['args'] = args;
  if (named.length > 0) {
    if (args.length > 0)
      throw new HaQLiteError('HADB_HAQLITE_INVALID_VALUE', 'positional and named arguments cannot be mixed');
    const o: Record<string, SqlValue> = {};
    for (const n of named as { name?: unknown; value?: unknown }[]) {
      if (typeof n?.name !== 'string')
        throw new HaQLiteError('HADB_HAQLITE_INVALID_VALUE', 'a named argument needs a name');
      o[n.name] = fromHrana(n.value);
    }
    bound = o;
  }
  return { stmt: { sql, args: bound }, wantRows: s.want_rows !== false };
}

export function sqlText(s: Record<string, unknown>, sqls: Map<number, string>): string {
  if (typeof s.sql === 'string') return s.sql;
  if (typeof s.sql_id === 'number') {
    const text = sqls.get(s.sql_id);
    if (text === undefined) throw new HaQLiteError('HADB_HAQLITE_INVALID_VALUE', `no stored SQL text ${s.sql_id}`);
    return text;
  }
  throw new HaQLiteError('HADB_HAQLITE_INVALID_VALUE', 'a statement needs sql or sql_id');
}

/** Parameter names of a statement (for `describe`): `?` is nameless, the others keep their prefix. */
function paramNames(sql: string): (string | null)[] {
  const names: (string | null)[] = [];
  const stripped = sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\/\*[\s\S]*?\*\//g, ' ');
  for (const m of stripped.matchAll(/\?(\d*)|[:@$]([A-Za-z_][A-Za-z0-9_]*)/g)) {
    if (m[0] === '?') names.push(null);
    else if (m[1] !== undefined && m[0].startsWith('?')) names[Number(m[1]) - 1] = m[0];
    else if (!names.includes(m[0])) names.push(m[0]);
  }
  return Array.from(names, (n) => n ?? null);
}

/** One node's Hrana streams (baton-held sessions) and the pipeline requests run on them. */
export interface HranaStreams {
  /** Runs a pipeline body (`{baton, requests}`) and returns its response; {@link RequestError} for a bad body or an unknown baton. */
  handle(body: unknown): Promise<Record<string, unknown>>;
  /** The SQL texts stored on the stream `baton` holds; `undefined` when the baton is unknown. */
  storedSql(baton: string): ReadonlyMap<number, string> | undefined;
  /** Closes the stream `baton` holds (rolling back a transaction), if any. */
  closeBaton(baton: string): Promise<void>;
  /** Rolls back and forgets every open stream. */
  close(): Promise<void>;
}

/** Creates the stream store of `db`: a stream idle `idleMs` is closed (its transaction rolled back). */
export function hranaStreams(db: HaQLite, options: { readonly idleMs: number; readonly clock: Clock }): HranaStreams {
  const { idleMs, clock } = options;
  const streams = new Map<string, Stream>();

  const closeStream = async (s: Stream): Promise<void> => {
    streams.delete(s.id);
    s.timer?.cancel();
    await s.session.close();
  };
  const touch = (s: Stream): void => {
    s.timer?.cancel();
    s.timer = clock.timer(idleMs, () => void closeStream(s));
    s.timer.unref?.();
  };

  const runRequest = async (s: Stream, r: Record<string, unknown>): Promise<Record<string, unknown>> => {
    switch (r.type) {
      case 'execute': {
        const { stmt, wantRows } = statement(r.stmt, s.sqls);
        const t0 = clock.now();
        const result = await s.session.execute(stmt);
        return { type: 'execute', result: stmtResult(result, wantRows, clock.now() - t0) };
      }
      case 'batch': {
        const rawSteps = (r.batch as { steps?: unknown } | null)?.steps;
        if (!Array.isArray(rawSteps))
          throw new HaQLiteError('HADB_HAQLITE_INVALID_VALUE', 'batch.steps must be an array');
        const steps: BatchStep[] = rawSteps.map((raw: unknown) => {
          const step = raw as { condition?: BatchCond | null; stmt?: unknown };
          const { stmt, wantRows } = statement(step.stmt, s.sqls);
          return { condition: step.condition ?? null, stmt, wantRows };
        });
        const outcomes = await runBatch(s.session, steps, clock);
        return {
          type: 'batch',
          result: {
            step_results: outcomes.map((o, i) =>
              o.result === null ? null : stmtResult(o.result, steps[i]!.wantRows, o.ms),
            ),
            step_errors: outcomes.map((o) => (o.error === null || o.error === undefined ? null : hranaError(o.error))),
          },
        };
      }
      case 'sequence': {
        const sql = sqlText(r, s.sqls);
        for (const part of splitStatements(sql)) await s.session.execute({ sql: part });
        return { type: 'sequence' };
      }
      case 'describe': {
        const sql = sqlText(r, s.sqls);
        const d = db.describe(sql);
        return {
          type: 'describe',
          result: {
            params: paramNames(sql).map((name) => ({ name })),
            cols: d.columns,
            is_explain: /^\s*EXPLAIN\b/i.test(sql),
            is_readonly: d.readonly,
          },
        };
      }
      case 'store_sql':
        if (typeof r.sql_id !== 'number' || typeof r.sql !== 'string')
          throw new HaQLiteError('HADB_HAQLITE_INVALID_VALUE', 'store_sql needs sql_id and sql');
        s.sqls.set(r.sql_id, r.sql);
        return { type: 'store_sql' };
      case 'close_sql':
        s.sqls.delete(Number(r.sql_id));
        return { type: 'close_sql' };
      case 'get_autocommit':
        return { type: 'get_autocommit', is_autocommit: s.session.autocommit };
      case 'close':
        await closeStream(s);
        return { type: 'close' };
      default:
        throw new HaQLiteError('HADB_HAQLITE_INVALID_VALUE', `unknown request type ${String(r.type)}`);
    }
  };

  const pipeline = async (body: unknown): Promise<Record<string, unknown>> => {
    const b = body as { baton?: unknown; requests?: unknown } | null;
    if (b === null || typeof b !== 'object' || !Array.isArray(b.requests))
      throw new RequestError(400, 'requests must be an array', 'HADB_HAQLITE_PROTOCOL');
    let s: Stream;
    if (b.baton === null || b.baton === undefined) {
      const id = randomBytes(12).toString('base64url');
      s = { id, baton: '', session: new StreamSession(db), sqls: new Map(), timer: undefined, busy: Promise.resolve() };
      streams.set(id, s);
    } else {
      const id = typeof b.baton === 'string' ? b.baton.split('.')[0]! : '';
      const found = streams.get(id);
      if (found === undefined || found.baton !== b.baton)
        throw new RequestError(400, 'the stream is closed or expired (unknown baton)', 'STREAM_EXPIRED');
      s = found;
    }
    s.baton = `${s.id}.${randomBytes(18).toString('base64url')}`;
    s.timer?.cancel();
    const results: Record<string, unknown>[] = [];
    for (const r of b.requests as Record<string, unknown>[]) {
      try {
        results.push({ type: 'ok', response: await runRequest(s, r) });
      } catch (err) {
        results.push({ type: 'error', error: hranaError(err) });
      }
    }
    const open = streams.has(s.id);
    if (open) touch(s);
    return { baton: open ? s.baton : null, base_url: null, results };
  };

  /** Runs one pipeline body; requests on one stream are serial (a client must wait, but do not rely on it). */
  const handle = async (body: unknown): Promise<Record<string, unknown>> => {
    const baton = (body as { baton?: unknown } | null)?.baton;
    const existing = streams.get(typeof baton === 'string' ? (baton.split('.')[0] ?? '') : '');
    if (existing === undefined) return pipeline(body);
    const prior = existing.busy;
    let release!: () => void;
    existing.busy = new Promise((r) => (release = r));
    await prior;
    try {
      return await pipeline(body);
    } finally {
      release();
    }
  };

  const byBaton = (baton: string): Stream | undefined => {
    const s = streams.get(baton.split('.')[0] ?? '');
    return s !== undefined && s.baton === baton ? s : undefined;
  };

  return {
    handle,
    storedSql: (baton) => byBaton(baton)?.sqls,
    closeBaton: async (baton) => {
      const s = byBaton(baton);
      if (s !== undefined) await closeStream(s);
    },
    close: () => Promise.all([...streams.values()].map(closeStream)).then(() => undefined),
  };
}

/** Splits a script into statements on `;` outside quotes and comments. */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i]!;
    if (ch === "'" || ch === '"' || ch === '`') {
      const end = sql.indexOf(ch, i + 1);
      const stop = end === -1 ? sql.length : end + 1;
      cur += sql.slice(i, stop);
      i = stop - 1;
    } else if (ch === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end;
    } else if (ch === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 1;
    } else if (ch === ';') {
      if (cur.trim() !== '') out.push(cur.trim());
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (cur.trim() !== '') out.push(cur.trim());
  return out;
}
