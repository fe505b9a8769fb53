import { request } from 'node:http';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  DEFAULT_FORWARD_DELAYS_MS,
  ForwardingServer,
  HaError,
  forwardToLeader,
  isHaError,
  withForwardRetries,
} from '@hadb/ha';
import { HaDuckError, isHaDuckError } from '../src/errors.js';
import type { ExecuteResult, QueryResult } from '../src/sql.js';
import { PATHS, duckWire, type DuckRead, type DuckWrite } from '../src/wire.js';
import { TestLeader, sqlClient } from './leader-fixture.js';

const SECRET = 'fw-secret-Zq81-do-not-print';
const WRONG = 'fw-wrong-secret-Xy42-do-not-print';

let leader: TestLeader;
let server: ForwardingServer<DuckWrite, DuckRead, ExecuteResult, QueryResult>;
let address: string;
const logs: unknown[] = [];

beforeAll(async () => {
  leader = await TestLeader.open();
  server = await ForwardingServer.listen({
    codec: duckWire,
    target: leader.target,
    port: 0,
    secret: SECRET,
    maxBodyBytes: 64 * 1024,
    logger: { warn: (obj: unknown, msg?: string) => void logs.push([obj, msg]) },
  });
  address = `http://127.0.0.1:${server.port}`;
  await leader.engine.execute('CREATE TABLE t (id BIGINT, body VARCHAR)');
});
afterAll(async () => {
  await server?.close();
  await leader?.close();
});
afterEach(() => {
  leader.leading = true;
  leader.calls.length = 0;
  vi.useRealTimers();
});

const client = sqlClient({ secret: SECRET, timeoutMs: 5000 });

async function count(where = 'true'): Promise<bigint> {
  return (await leader.engine.query(`SELECT count(*) FROM t WHERE ${where}`)).rows[0]![0] as bigint;
}

/** One raw request: status and parsed body (for checks of the wire format itself). */
async function raw(
  path: string,
  body: string,
  headers: Record<string, string> = {},
  method = 'POST',
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(new URL(path, address), {
    method,
    body: method === 'POST' ? body : undefined,
    headers: { 'content-type': 'application/json', ...headers },
  });
  return { status: res.status, body: await res.json() };
}

async function caught(p: Promise<unknown>): Promise<HaError | HaDuckError> {
  try {
    await p;
  } catch (err) {
    if (isHaError(err) || isHaDuckError(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('forwarding server and client (real HTTP, real DuckDB leader)', () => {
  it('runs a forwarded write and returns rows as the leader reads them, every value type included', async () => {
    const r = await client.execute(
      address,
      'INSERT INTO t VALUES ($1, $2), ($3, $4)',
      [1n, 'one', 9223372036854775807n, 'max'],
      'tok-write-0001',
      'shipped',
    );
    expect(r).toEqual({ rowsChanged: 2 });
    const sql = `SELECT id, body, [id, NULL] AS l, {'id': id, 'b': body::BLOB} AS s, MAP {body: id} AS m, 'NaN'::DOUBLE AS d,
      (-170141183460469231731687303715884105728)::HUGEINT AS h, 1.50::DECIMAL(4,2) AS dec, DATE '2024-02-29' AS dt, TIMESTAMP '2024-02-29 01:02:03.456789' AS ts
      FROM t ORDER BY id`;
    const forwarded = await client.query(address, sql, undefined);
    const local = await leader.engine.query(sql);
    expect(forwarded).toStrictEqual(local);
    expect(forwarded.rows[1]![0]).toBe(9223372036854775807n);
  });

  it('dedups a repeated idempotency token: the first result comes back and the second call does not execute', async () => {
    const token = 'tok-dedup-0001';
    const before = await count();
    const first = await client.execute(
      address,
      "INSERT INTO t SELECT 100 + i, 'dup' FROM range(3) r(i)",
      undefined,
      token,
      'committed',
    );
    expect(first.rowsChanged).toBe(3);
    // Same token, different statement: the stored result is returned and nothing runs.
    const again = await client.execute(
      address,
      "INSERT INTO t SELECT 200 + i, 'dup2' FROM range(5) r(i)",
      undefined,
      token,
      'committed',
    );
    expect(again.rowsChanged).toBe(3);
    expect(await count()).toBe(before + 3n);
    expect(await count("body = 'dup2'")).toBe(0n);
    // A batch dedups the same way (one transaction, one token).
    const batch = [
      { sql: "INSERT INTO t VALUES (300, 'b')", params: undefined },
      { sql: "INSERT INTO t VALUES (301, 'b')", params: undefined },
    ];
    expect(await client.batch(address, batch, 'tok-batch-0001', 'committed')).toEqual({ rowsChanged: 2 });
    expect(await client.batch(address, batch, 'tok-batch-0001', 'committed')).toEqual({ rowsChanged: 2 });
    expect(await count("body = 'b'")).toBe(2n);
  });

  it('rolls back a failed batch as one transaction and does not record its token', async () => {
    const batch = [
      { sql: "INSERT INTO t VALUES (400, 'rollback')", params: undefined },
      { sql: 'INSERT INTO missing_table VALUES (1)', params: undefined },
    ];
    const err = await caught(client.batch(address, batch, 'tok-fail-0001', 'committed'));
    expect(err.code).toBe('HADB_HADUCK_SQL');
    expect(err.retryable).toBe(false);
    expect(await count("body = 'rollback'")).toBe(0n);
    // The token was not consumed: a corrected retry with it runs.
    expect(
      await client.execute(address, "INSERT INTO t VALUES (400, 'rollback')", undefined, 'tok-fail-0001', 'committed'),
    ).toEqual({ rowsChanged: 1 });
  });

  it('answers 421 with a typed body when this node is not the leader, and writes nothing', async () => {
    leader.leading = false;
    const before = await count();
    const res = await raw(
      PATHS.execute,
      JSON.stringify({ sql: "INSERT INTO t VALUES (1, 'x')", idempotency_token: 'tok-421-00001' }),
      {
        authorization: `Bearer ${SECRET}`,
      },
    );
    expect(res.status).toBe(421);
    expect(res.body).toEqual({ error: { code: 'HADB_HA_NOT_LEADER', message: expect.any(String) } });
    const err = await caught(
      client.execute(address, "INSERT INTO t VALUES (1, 'x')", undefined, 'tok-421-00002', 'committed'),
    );
    expect(err.code).toBe('HADB_HA_NOT_LEADER');
    expect(err.retryable).toBe(true);
    expect((await caught(client.query(address, 'SELECT 1', undefined))).code).toBe('HADB_HA_NOT_LEADER');
    expect(await count()).toBe(before);
  });

  it('answers 401 to a missing or wrong bearer secret before reading the body; the client does not retry it', async () => {
    const body = JSON.stringify({ sql: "INSERT INTO t VALUES (1, 'x')", idempotency_token: 'tok-401-00001' });
    const variants: Record<string, string>[] = [
      {},
      { authorization: `Bearer ${WRONG}` },
      { authorization: SECRET },
      { authorization: `Bearer ${SECRET}x` },
    ];
    for (const headers of variants) {
      const res = await raw(PATHS.execute, body, headers);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: { code: 'HADB_HA_UNAUTHORIZED', message: 'unauthorized' } });
    }
    expect(leader.calls).toEqual([]);
    const wrong = sqlClient({ secret: WRONG });
    let attempts = 0;
    const err = await caught(
      withForwardRetries(
        () => {
          attempts++;
          return wrong.execute(address, 'SELECT 1', undefined, 'tok-401-00002', 'committed');
        },
        { delaysMs: [0, 1, 1, 1] },
      ),
    );
    expect(err.code).toBe('HADB_HA_UNAUTHORIZED');
    expect(err.retryable).toBe(false);
    expect(attempts).toBe(1);
  });

  it('answers 400 with a typed error body to malformed requests', async () => {
    const auth = { authorization: `Bearer ${SECRET}` };
    const cases: [string, string][] = [
      ['{"sql": "SELECT 1",', 'request body is not JSON'],
      ['[1, 2]', 'request body must be a JSON object'],
      ['{"sql": 1, "idempotency_token": "tok-400-00001"}', 'field "sql" must be a string'],
      ['{"sql": "SELECT 1"}', 'field "idempotency_token" must be a string'],
      [
        '{"sql": "SELECT 1", "idempotency_token": "short"}',
        'idempotency_token must be 8-128 characters of [A-Za-z0-9._:-]',
      ],
      [
        '{"sql": "SELECT 1", "idempotency_token": "tok-400-00002", "durability": "eventually"}',
        'durability must be "committed" or "shipped"',
      ],
      [
        '{"sql": "SELECT $1", "params": [{"$date": "2024-01-01"}], "idempotency_token": "tok-400-00003"}',
        'malformed tagged wire value',
      ],
    ];
    for (const [body, message] of cases) {
      const res = await raw(PATHS.execute, body, auth);
      expect(res.status, body).toBe(400);
      expect((res.body as { error: { code: string } }).error.code, body).toMatch(
        /^HADB_(HA_PROTOCOL|HADUCK_INVALID_VALUE)$/,
      );
      expect((res.body as { error: { message: string } }).error.message, body).toBe(message);
    }
    expect(await raw('/haduck/v1/nope', '{}', auth)).toEqual({
      status: 404,
      body: { error: { code: 'HADB_HA_PROTOCOL', message: 'unknown path' } },
    });
    expect((await raw(PATHS.execute, '', auth, 'GET')).status).toBe(405);
    const sqlError = await raw(
      PATHS.execute,
      JSON.stringify({ sql: 'INSERT INTO nope VALUES (1)', idempotency_token: 'tok-400-00004' }),
      auth,
    );
    expect(sqlError.status).toBe(400);
    expect((sqlError.body as { error: { code: string } }).error.code).toBe('HADB_HADUCK_SQL');
    expect(leader.calls).toEqual(['execute']);
  });

  it('refuses a body over the limit with 413 (declared length or chunked), and the client gets a typed, non-retryable error', async () => {
    const big = `SELECT '${'x'.repeat(70 * 1024)}'`;
    const err = await caught(client.execute(address, big, undefined, 'tok-413-00001', 'committed'));
    expect(err.code).toBe('HADB_HA_PROTOCOL');
    expect(err.message).toBe('request body exceeds 65536 bytes');
    expect(err.retryable).toBe(false);
    // Chunked, no Content-Length: the server stops at the limit.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(new URL(PATHS.execute, address), {
        method: 'POST',
        headers: { authorization: `Bearer ${SECRET}`, 'transfer-encoding': 'chunked' },
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      const piece = Buffer.alloc(16 * 1024, 'a');
      let sent = 0;
      const pump = (): void => {
        while (sent < 200 && req.write(piece)) sent++;
        if (sent < 200) req.once('drain', pump);
        else req.end();
      };
      pump();
    });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body)).toEqual({
      error: { code: 'HADB_HA_PROTOCOL', message: 'request body exceeds 65536 bytes' },
    });
    expect(leader.calls).toEqual([]);
  });

  it('never puts the secret into errors, error bodies or logs', async () => {
    const seen: string[] = [];
    const record = (v: unknown): void =>
      void seen.push(inspect(v, { depth: 20, showHidden: true }), JSON.stringify(v) ?? '');
    // 401, transport failure, timeout, protocol and SQL errors, as thrown by the client.
    record(
      await caught(sqlClient({ secret: WRONG }).execute(address, 'SELECT 1', undefined, 'tok-sec-00001', 'committed')),
    );
    const closed = await ForwardingServer.listen({
      codec: duckWire,
      target: leader.target,
      port: 0,
      secret: SECRET,
    });
    const closedAddress = `http://127.0.0.1:${closed.port}`;
    await closed.close();
    record(await caught(client.execute(closedAddress, 'SELECT 1', undefined, 'tok-sec-00002', 'committed')));
    const hanging = await ForwardingServer.listen({
      codec: duckWire,
      target: { ...leader.target, read: () => new Promise(() => undefined) },
      port: 0,
      secret: SECRET,
    });
    try {
      const slow = sqlClient({ secret: SECRET, timeoutMs: 200 });
      const timedOut = await caught(slow.query(`http://127.0.0.1:${hanging.port}`, 'SELECT 1', undefined));
      expect(timedOut.code).toBe('HADB_HA_FORWARD_FAILED');
      record(timedOut);
    } finally {
      await hanging.close();
    }
    record(
      await caught(client.execute(address, 'INSERT INTO nope VALUES (1)', undefined, 'tok-sec-00003', 'committed')),
    );
    record(
      await caught(
        withForwardRetries(() => client.execute(closedAddress, 'SELECT 1', undefined, 'tok-sec-00004', 'committed'), {
          delaysMs: [0, 1],
        }),
      ),
    );
    // An untyped failure inside the target: a 500 without details, and one log line.
    const failing = await ForwardingServer.listen({
      codec: duckWire,
      target: { ...leader.target, read: () => Promise.reject(new Error('disk on fire')) },
      port: 0,
      secret: SECRET,
      logger: { warn: (obj: unknown, msg?: string) => void logs.push([obj, msg]) },
    });
    try {
      const res = await fetch(`http://127.0.0.1:${failing.port}${PATHS.query}`, {
        method: 'POST',
        body: '{"sql":"SELECT 1"}',
        headers: { authorization: `Bearer ${SECRET}` },
      });
      expect(res.status).toBe(500);
      const body = await res.json();
      expect(body).toEqual({ error: { code: 'HADB_HA_INTERNAL', message: 'internal error' } });
      record(body);
    } finally {
      await failing.close();
    }
    expect(logs.length).toBeGreaterThan(0);
    record(logs);
    expect(seen.length).toBeGreaterThan(10);
    for (const text of seen) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(WRONG);
      expect(text).not.toContain('Bearer');
    }
  });
});

describe('forwarding retries', () => {
  it('attempts at 0, 100, 400 and 1600 ms after the previous one (the fixed schedule), then fails retryably', async () => {
    vi.useFakeTimers();
    const start = Date.now();
    const at: number[] = [];
    const done = caught(
      withForwardRetries(
        async () => {
          at.push(Date.now() - start);
          throw new HaError('HADB_HA_NOT_LEADER', 'not yet');
        },
        { delaysMs: DEFAULT_FORWARD_DELAYS_MS },
      ),
    );
    await vi.runAllTimersAsync();
    const err = await done;
    expect(DEFAULT_FORWARD_DELAYS_MS).toEqual([0, 100, 400, 1600]);
    expect(at).toEqual([0, 100, 500, 2100]);
    expect(err.code).toBe('HADB_HA_FORWARD_FAILED');
    expect(err.retryable).toBe(true);
    expect((err.cause as HaError).code).toBe('HADB_HA_NOT_LEADER');
  });

  it('does not retry a non-retryable error; keeps NO_LEADER as the final error; stops on abort', async () => {
    vi.useFakeTimers();
    let n = 0;
    const sqlErr = caught(
      withForwardRetries(async () => {
        n++;
        throw new HaDuckError('HADB_HADUCK_SQL', 'syntax');
      }),
    );
    await vi.runAllTimersAsync();
    expect((await sqlErr).code).toBe('HADB_HADUCK_SQL');
    expect(n).toBe(1);

    const noLeader = caught(
      withForwardRetries(async () => {
        throw new HaError('HADB_HA_NO_LEADER', 'none');
      }),
    );
    await vi.runAllTimersAsync();
    expect((await noLeader).code).toBe('HADB_HA_NO_LEADER');

    const controller = new AbortController();
    let tries = 0;
    const aborted = caught(
      withForwardRetries(
        async () => {
          tries++;
          throw new HaError('HADB_HA_FORWARD_FAILED', 'down');
        },
        { signal: controller.signal, delaysMs: DEFAULT_FORWARD_DELAYS_MS },
      ),
    );
    await vi.advanceTimersByTimeAsync(150);
    controller.abort();
    await vi.runAllTimersAsync();
    expect((await aborted).code).toBe('HADB_HA_ABORTED');
    expect(tries).toBe(2);
  });

  it('re-reads the leader address before every attempt and follows a leader change exactly once', async () => {
    // Two real servers: A has just lost the lease (421), B is the new leader.
    const newLeader = await TestLeader.open();
    const b = await ForwardingServer.listen({
      codec: duckWire,
      target: newLeader.target,
      port: 0,
      secret: SECRET,
    });
    const oldLeader = leader;
    oldLeader.leading = false;
    let lease: string | undefined = address;
    const refusing = await ForwardingServer.listen({
      codec: duckWire,
      target: {
        ...oldLeader.target,
        write: async (...args) => {
          // The lease moves on while the old leader refuses.
          lease = `http://127.0.0.1:${b.port}`;
          return oldLeader.target.write(...args);
        },
      },
      port: 0,
      secret: SECRET,
    });
    lease = `http://127.0.0.1:${refusing.port}`;
    try {
      await newLeader.engine.execute('CREATE TABLE t (id BIGINT, body VARCHAR)');
      const read: (string | undefined)[] = [];
      const sent: string[] = [];
      const result = await forwardToLeader(
        {
          local: async () => undefined,
          remote: (addr) => {
            sent.push(addr);
            return client.execute(addr, "INSERT INTO t VALUES (7, 'moved')", undefined, 'tok-move-00001', 'committed');
          },
        },
        {
          delaysMs: [0, 5, 5, 5],
          leaderAddress: () => {
            read.push(lease);
            return lease;
          },
        },
      );
      expect(result).toEqual({ rowsChanged: 1 });
      expect(sent).toEqual([`http://127.0.0.1:${refusing.port}`, `http://127.0.0.1:${b.port}`]);
      expect(read).toEqual(sent);
      expect((await newLeader.engine.query("SELECT count(*) FROM t WHERE body = 'moved'")).rows).toEqual([[1n]]);

      // No leader at all: NO_LEADER after every attempt; a lease naming this node: retried, then FORWARD_FAILED.
      let reads = 0;
      const none = await caught(
        forwardToLeader(
          { local: async () => undefined, remote: () => Promise.reject(new Error('unreachable')) },
          {
            delaysMs: [0, 1, 1],
            leaderAddress: () => {
              reads++;
              return undefined;
            },
          },
        ),
      );
      expect(none.code).toBe('HADB_HA_NO_LEADER');
      expect(reads).toBe(3);
      const self = await caught(
        forwardToLeader(
          { local: async () => undefined, remote: () => Promise.reject(new Error('unreachable')) },
          {
            delaysMs: [0, 1],
            leaderAddress: () => 'http://me',
            selfAddress: 'http://me',
          },
        ),
      );
      expect(self.code).toBe('HADB_HA_FORWARD_FAILED');
      // Leading again by the time of a retry: runs locally.
      let leading = false;
      const local = await forwardToLeader(
        {
          local: async () => (leading ? { value: 'here' } : undefined),
          remote: async () => {
            leading = true;
            throw new HaError('HADB_HA_NOT_LEADER', 'moved');
          },
        },
        { delaysMs: [0, 1], leaderAddress: () => 'http://elsewhere' },
      );
      expect(local).toBe('here');
    } finally {
      await refusing.close();
      await b.close();
      await newLeader.close();
    }
  });
});
