import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type HaQLite, serve, type ServeOptions } from '../src/index.js';
import { localNodes } from './local-nodes.js';

const { node, defer } = localNodes('hrana-ws');
const TOKEN = 'ws-secret-token';

type Msg = Record<string, unknown>;

/** A raw Hrana WebSocket client: sends messages, collects every message and the close code. */
async function connect(
  db: HaQLite,
  options: ServeOptions = {},
  protocol: string | undefined = 'hrana3',
): Promise<{
  ws: WebSocket;
  send(msg: Msg): void;
  request(id: number, request: Msg): Promise<Msg>;
  closed: Promise<number>;
}> {
  const server = await serve(db, { port: 0, authToken: TOKEN, ...options });
  defer(() => server.close());
  const ws = new WebSocket(server.url.replace(/^http:/, 'ws:'), protocol === undefined ? [] : [protocol]);
  defer(() => ws.terminate());
  const waiting = new Map<number, (m: Msg) => void>();
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as Msg;
    if (typeof m.request_id === 'number') waiting.get(m.request_id)?.(m);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const send = (msg: Msg): void => ws.send(JSON.stringify(msg));
  const request = (id: number, r: Msg): Promise<Msg> =>
    new Promise((resolve) => {
      waiting.set(id, resolve);
      send({ type: 'request', request_id: id, request: r });
    });
  return { ws, send, request, closed };
}

function nextMessage(ws: WebSocket): Promise<Msg> {
  return new Promise((resolve) => ws.once('message', (data) => resolve(JSON.parse(data.toString()) as Msg)));
}

describe('Hrana over WebSocket: the protocol', () => {
  it('negotiates hrana3, stores SQL per connection, runs streams and cursors', async () => {
    const db = await node('a');
    const c = await connect(db);
    expect(c.ws.protocol).toBe('hrana3');
    c.send({ type: 'hello', jwt: TOKEN });
    expect(await nextMessage(c.ws)).toEqual({ type: 'hello_ok' });
    expect((await c.request(1, { type: 'open_stream', stream_id: 1 })).type).toBe('response_ok');
    await c.request(2, { type: 'execute', stream_id: 1, stmt: { sql: 'CREATE TABLE t (v TEXT)' } });
    // SQL stored on the connection is usable from any of its streams.
    await c.request(3, { type: 'store_sql', sql_id: 7, sql: 'INSERT INTO t VALUES (?)' });
    await c.request(4, { type: 'open_stream', stream_id: 2 });
    const ins = await c.request(5, {
      type: 'execute',
      stream_id: 2,
      stmt: { sql_id: 7, args: [{ type: 'text', value: 'x' }], want_rows: false },
    });
    expect((ins.response as { result: { affected_row_count: number } }).result.affected_row_count).toBe(1);
    // A cursor over a batch: begin, rows and end of each step.
    await c.request(6, {
      type: 'open_cursor',
      stream_id: 1,
      cursor_id: 1,
      batch: { steps: [{ stmt: { sql: 'SELECT v FROM t' } }, { stmt: { sql: 'SELEC nope' } }] },
    });
    const fetched = await c.request(7, { type: 'fetch_cursor', cursor_id: 1, max_count: 100 });
    const { entries, done } = fetched.response as { entries: Msg[]; done: boolean };
    expect(done).toBe(true);
    expect(entries.map((e) => e.type)).toEqual(['step_begin', 'row', 'step_end', 'step_error']);
    expect(entries[1]!.row).toEqual([{ type: 'text', value: 'x' }]);
    await c.request(8, { type: 'close_cursor', cursor_id: 1 });
    const auto = await c.request(9, { type: 'get_autocommit', stream_id: 1 });
    expect(auto.response).toEqual({ type: 'get_autocommit', is_autocommit: true });
    // A failing statement answers response_error with SQLite's code; the stream goes on.
    const bad = await c.request(10, { type: 'execute', stream_id: 1, stmt: { sql: 'INSERT INTO nope VALUES (1)' } });
    expect(bad.type).toBe('response_error');
    expect((bad.error as { code: string }).code).toMatch(/^SQLITE_/);
    expect((await c.request(11, { type: 'close_stream', stream_id: 1 })).type).toBe('response_ok');
    expect((await db.query('SELECT count(*) FROM t')).rows[0]![0]).toBe(1n);
  });

  it('closing the connection rolls back its open transactions and frees the write lock', async () => {
    const db = await node('a');
    await db.execute('CREATE TABLE t (v TEXT)');
    const c = await connect(db);
    c.send({ type: 'hello', jwt: TOKEN });
    await c.request(1, { type: 'open_stream', stream_id: 1 });
    await c.request(2, { type: 'execute', stream_id: 1, stmt: { sql: 'BEGIN' } });
    await c.request(3, { type: 'execute', stream_id: 1, stmt: { sql: "INSERT INTO t VALUES ('never')" } });
    c.ws.terminate();
    await c.closed;
    // The next write gets the lock (it would wait on the held transaction otherwise).
    await db.execute("INSERT INTO t VALUES ('after')");
    expect((await db.query('SELECT v FROM t')).rows.map((r) => r[0])).toEqual(['after']);

    // The same on a follower, whose stream (and transaction) the leader holds, with a request
    // still on its way to the leader when the connection drops: the stream is closed after that
    // request, at once, not when it would expire on the leader (10 s).
    const b = await node('b');
    expect(b.role).toBe('follower');
    const d = await connect(b);
    d.send({ type: 'hello', jwt: TOKEN });
    await d.request(1, { type: 'open_stream', stream_id: 1 });
    await d.request(2, { type: 'execute', stream_id: 1, stmt: { sql: 'BEGIN' } });
    await d.request(3, { type: 'execute', stream_id: 1, stmt: { sql: "INSERT INTO t VALUES ('x')" } });
    // Dropped as soon as the request is on the wire.
    d.ws.send(
      JSON.stringify({
        type: 'request',
        request_id: 4,
        request: { type: 'execute', stream_id: 1, stmt: { sql: "INSERT INTO t VALUES ('y')" } },
      }),
      () => d.ws.terminate(),
    );
    await d.closed;
    const t0 = performance.now();
    await db.execute("INSERT INTO t VALUES ('then')");
    expect(performance.now() - t0).toBeLessThan(5000);
    expect((await db.query('SELECT v FROM t ORDER BY rowid')).rows.map((r) => r[0])).toEqual(['after', 'then']);
  });

  it('refuses a wrong token with hello_error and closes', async () => {
    const db = await node('a');
    let refused = 0;
    db.on('unauthorized', () => refused++);
    for (const jwt of ['wrong', 'é'.repeat(TOKEN.length), null]) {
      const c = await connect(db);
      c.send({ type: 'hello', jwt });
      const m = await nextMessage(c.ws);
      expect(m.type).toBe('hello_error');
      expect(await c.closed).toBe(1008);
    }
    expect(refused).toBe(3);
  });

  it('closes on a request before hello, a binary frame, an unknown stream, or no hello in time', async () => {
    const db = await node('a');
    const early = await connect(db);
    early.send({ type: 'request', request_id: 1, request: { type: 'open_stream', stream_id: 1 } });
    expect(await early.closed).toBe(1002);

    const binary = await connect(db);
    binary.send({ type: 'hello', jwt: TOKEN });
    binary.ws.send(Buffer.from([1, 2, 3]));
    expect(await binary.closed).toBe(1003);

    const unknown = await connect(db);
    unknown.send({ type: 'hello', jwt: TOKEN });
    unknown.send({
      type: 'request',
      request_id: 1,
      request: { type: 'execute', stream_id: 9, stmt: { sql: 'SELECT 1' } },
    });
    expect(await unknown.closed).toBe(1002);

    const silent = await connect(db, { requestTimeoutMs: 200 });
    expect(await silent.closed).toBe(1008);
  });

  it('answers many requests pipelined on one stream, in order (more than are read at once)', async () => {
    const db = await node('a');
    const c = await connect(db);
    c.send({ type: 'hello', jwt: TOKEN });
    await c.request(1, { type: 'open_stream', stream_id: 1 });
    await c.request(2, { type: 'execute', stream_id: 1, stmt: { sql: 'CREATE TABLE t (n INTEGER)' } });
    const answers = Array.from({ length: 5000 }, (_, i) =>
      c.request(10 + i, {
        type: 'execute',
        stream_id: 1,
        stmt: { sql: 'INSERT INTO t VALUES (?)', args: [{ type: 'integer', value: `${i}` }] },
      }),
    );
    expect((await Promise.all(answers)).every((m) => m.type === 'response_ok')).toBe(true);
    const rows = (await db.query('SELECT n FROM t ORDER BY rowid')).rows.map((r) => r[0]);
    expect(rows).toEqual(Array.from({ length: 5000 }, (_, i) => BigInt(i)));
  });

  it('limits streams per connection and message size', async () => {
    const db = await node('a');
    const c = await connect(db, { maxStreamsPerConnection: 2, maxBodyBytes: 64 * 1024 });
    c.send({ type: 'hello', jwt: TOKEN });
    await c.request(1, { type: 'open_stream', stream_id: 1 });
    await c.request(2, { type: 'open_stream', stream_id: 2 });
    const third = await c.request(3, { type: 'open_stream', stream_id: 3 });
    expect(third.type).toBe('response_error');
    expect((third.error as { code: string }).code).toBe('TOO_MANY_STREAMS');
    c.send({ type: 'request', request_id: 4, request: { type: 'store_sql', sql_id: 1, sql: 'x'.repeat(65 * 1024) } });
    expect(await c.closed).toBe(1009);
  });
});
