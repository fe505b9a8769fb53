import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isHadbError, silentLogger, systemClock, type Clock, type Logger, type Timer } from '@hadb/io';
import { checkConfig, HaQLiteError } from '../errors.js';
import type { HaQLite } from '../ha-qlite.js';
import type { Statement } from '../sql.js';
import type { SqlValue } from '../values.js';
import { runBatch, type BatchCond, type BatchStep } from './batch.js';
import { StreamSession } from './session.js';
import { fromHrana, stmtResult } from './values.js';

/** Options of {@link serve}. */
export interface ServeOptions {
  /** Interface to bind. Default `127.0.0.1`. A non-loopback address requires `authToken`. */
  readonly host?: string | undefined;
  /** Port; `0` picks a free one. Default 8080. */
  readonly port?: number | undefined;
  /** Bearer token clients must send (`Authorization: Bearer …`). Never logged. */
  readonly authToken?: string | undefined;
  /** Largest request body, bytes. Default 16 MiB. */
  readonly maxBodyBytes?: number | undefined;
  /** A stream (and its open transaction) idle this long is closed (rolled back), ms. Default 10000. */
  readonly streamIdleMs?: number | undefined;
  /** Deadline of one HTTP request, ms. Default 30000. */
  readonly requestTimeoutMs?: number | undefined;
  readonly logger?: Logger | undefined;
  /** Time source for statement timings and stream expiry. Default: the system clock. */
  readonly clock?: Clock | undefined;
}

/** A running Hrana-over-HTTP server. */
export interface HranaServer extends AsyncDisposable {
  /** `http://host:port`. */
  readonly url: string;
  readonly port: number;
  /** Stops accepting requests and rolls back open streams. Does not close the database. */
  close(): Promise<void>;
}

interface Stream {
  readonly id: string;
  baton: string;
  readonly session: StreamSession;
  readonly sqls: Map<number, string>;
  timer: Timer | undefined;
  /** Requests on a stream are serial; this is the tail. */
  busy: Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** Hrana's `Error`: SQLite's code when SQLite raised it, otherwise haqlite's. */
function hranaError(err: unknown): { message: string; code: string } {
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

function sqlText(s: Record<string, unknown>, sqls: Map<number, string>): string {
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

/**
 * Serves `db` over Hrana over HTTP (the libSQL remote protocol, JSON encoding): `GET /v2`,
 * `GET /v3`, `POST /v2/pipeline`, `POST /v3/pipeline` with `execute`, `batch`, `sequence`,
 * `describe`, `store_sql`, `close_sql`, `get_autocommit` and `close`; streams are held by batons,
 * so interactive transactions work (on the leader; a follower forwards autocommit writes and
 * libSQL client batches). Refuses a non-loopback `host` without `authToken`
 * (`HADB_HAQLITE_INVALID_CONFIG`).
 */
export async function serve(db: HaQLite, options: ServeOptions = {}): Promise<HranaServer> {
  const host = checkConfig.string('host', options.host, '127.0.0.1');
  const port = checkConfig.int('port', options.port, { min: 0, max: 65535, default: 8080 });
  const maxBody = checkConfig.int('maxBodyBytes', options.maxBodyBytes, { min: 1, default: 16 * 1024 * 1024 });
  const idleMs = checkConfig.int('streamIdleMs', options.streamIdleMs, { min: 1, default: 10_000 });
  const requestTimeoutMs = checkConfig.int('requestTimeoutMs', options.requestTimeoutMs, { min: 1, default: 30_000 });
  const token = options.authToken;
  checkConfig.require(
    token === undefined || (typeof token === 'string' && token.length > 0),
    'authToken must be a non-empty string',
  );
  checkConfig.require(
    token !== undefined || LOOPBACK.has(host),
    `refusing to serve on ${host} without authToken (only loopback addresses may run without one)`,
  );
  const logger = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const expected = token === undefined ? undefined : Buffer.from(`Bearer ${token}`);
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

  const authorized = (req: IncomingMessage): boolean => {
    if (expected === undefined) return true;
    const got = Buffer.from(req.headers.authorization ?? '');
    return got.length === expected.length && timingSafeEqual(got, expected);
  };

  const readBody = (req: IncomingMessage): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBody) {
          reject(new RequestError(413, `request body exceeds ${maxBody} bytes`, 'HADB_HAQLITE_BODY_TOO_LARGE'));
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          reject(new RequestError(400, 'the body is not JSON', 'HADB_HAQLITE_PROTOCOL'));
        }
      });
      req.on('error', reject);
    });

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

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    try {
      const path = (req.url ?? '/').split('?')[0]!;
      if (!authorized(req)) {
        // Reported as the node's `unauthorized` event (the admin server's `auth_failure`).
        db.emit('unauthorized', { via: 'hrana' });
        throw new RequestError(401, 'missing or wrong bearer token', 'UNAUTHORIZED');
      }
      if (req.method === 'GET' && (path === '/v2' || path === '/v3' || path === '/health'))
        return send(200, { ok: true, role: db.role });
      if (req.method === 'POST' && (path === '/v2/pipeline' || path === '/v3/pipeline')) {
        const body = await readBody(req);
        const id =
          typeof (body as { baton?: unknown })?.baton === 'string'
            ? ((body as { baton: string }).baton.split('.')[0] ?? '')
            : '';
        const existing = streams.get(id);
        // Requests on one stream are serial (a client must wait, but do not rely on it).
        const run = (): Promise<Record<string, unknown>> => pipeline(body);
        if (existing === undefined) return send(200, await run());
        const prior = existing.busy;
        let release!: () => void;
        existing.busy = new Promise((r) => (release = r));
        await prior;
        try {
          return send(200, await run());
        } finally {
          release();
        }
      }
      throw new RequestError(404, `no route ${req.method} ${path}`, 'NOT_FOUND');
    } catch (err) {
      if (err instanceof RequestError) return send(err.status, { message: err.message, code: err.code });
      logger.warn({ err: hranaError(err) }, 'haqlite serve: request failed');
      return send(500, hranaError(err));
    }
  };

  const server: Server = createServer((req, res) => void handle(req, res));
  server.requestTimeout = requestTimeoutMs;
  server.headersTimeout = Math.min(requestTimeoutMs, 60_000);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
  logger.info({ url }, 'haqlite serve: listening');
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await Promise.all([...streams.values()].map(closeStream));
    })());
  return { url, port: bound, close, [Symbol.asyncDispose]: close };
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
