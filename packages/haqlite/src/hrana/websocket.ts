/**
 * Hrana over WebSocket (JSON encodings `hrana3`, `hrana2` and `hrana1`), the transport
 * `@libsql/client` picks for `ws:` and `libsql:` URLs. Each WebSocket stream runs on a stream of
 * the same store as Hrana over HTTP (one request = a one-request pipeline on its baton), so
 * streams, interactive transactions, idle expiry and a follower's relay to the leader behave as
 * over HTTP.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '@hadb/io';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import type { HaQLite } from '../ha-qlite.js';
import { cursorEntries } from './cursor.js';
import { relayPipeline } from './relay.js';
import { hranaError, RequestError, sqlText, type HranaStreams } from './streams.js';

/** JSON subprotocols served, newest first (a client offering none speaks version 1). */
const SUBPROTOCOLS = ['hrana3', 'hrana2'] as const;

/**
 * Requests of one connection in flight at most, and their bytes at most (in messages of the
 * largest size); past either the connection is not read until some finish. Requests waiting for
 * the write lock count too, so a connection whose own transaction holds it and whose other
 * streams queue this many writes behind it stalls until that transaction's stream expires.
 */
const MAX_IN_FLIGHT = 4096;
const MAX_IN_FLIGHT_MESSAGE_SIZES = 4;

/** Options of {@link hranaSockets}. */
export interface HranaSocketOptions {
  /** Whether the `jwt` of a client's `hello` is the server's token (see `token.ts`). */
  readonly tokenOk: (jwt: string | undefined) => boolean;
  /** Largest message, bytes (a larger one closes the connection). */
  readonly maxMessageBytes: number;
  /** Open streams per connection at most. */
  readonly maxStreams: number;
  /** A connection that has not said `hello` within this many ms is closed. */
  readonly helloTimeoutMs: number;
  readonly logger: Logger;
}

/** The WebSocket side of a Hrana server. */
export interface HranaSockets {
  /** Takes over an HTTP upgrade request. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes every connection and the streams they hold. */
  close(): Promise<void>;
}

type Msg = Record<string, unknown>;

/** A request the stream answered with a Hrana error. */
class ResponseError extends Error {
  constructor(readonly error: { readonly message: string; readonly code: string }) {
    super(error.message);
  }
}

/** A protocol violation: the connection is closed with `wsCode`. */
class ProtocolError extends Error {
  constructor(
    readonly wsCode: number,
    message: string,
  ) {
    super(message);
  }
}

function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new ProtocolError(1002, `${what} must be an integer`);
  return v;
}

/** Serves Hrana over WebSocket for `db` on the streams of `local`. */
export function hranaSockets(db: HaQLite, local: HranaStreams, options: HranaSocketOptions): HranaSockets {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxMessageBytes,
    perMessageDeflate: false,
    handleProtocols: (offered) => SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  const connections = new Set<Connection>();
  wss.on('connection', (ws: WebSocket) => {
    const c = new Connection(db, local, ws, options);
    connections.add(c);
    ws.once('close', () => {
      connections.delete(c);
      void c.release();
    });
  });
  let closed: Promise<void> | undefined;
  return {
    upgrade(req, socket, head) {
      if (closed !== undefined) {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    },
    close() {
      closed ??= (async () => {
        for (const c of connections) c.ws.terminate();
        await Promise.all([...connections].map((c) => c.release()));
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      })();
      return closed;
    },
  };
}

/** One client connection: its streams (WebSocket stream id → baton), stored SQL texts and cursors. */
class Connection {
  readonly ws: WebSocket;
  readonly #db: HaQLite;
  readonly #local: HranaStreams;
  readonly #options: HranaSocketOptions;
  /** Baton of each open stream (`null` until its first request); `undefined` once it expired. */
  readonly #streams = new Map<number, string | null | undefined>();
  /** Requests on one stream run in order: the tail of each stream's queue. */
  readonly #tails = new Map<number, Promise<void>>();
  readonly #sqls = new Map<number, string>();
  #sqlBytes = 0;
  readonly #cursors = new Map<number, { entries: Msg[]; at: number }>();
  #hello = false;
  #inFlight = 0;
  #inFlightBytes = 0;
  #paused = false;
  #released: Promise<void> | undefined;

  constructor(db: HaQLite, local: HranaStreams, ws: WebSocket, options: HranaSocketOptions) {
    this.ws = ws;
    this.#db = db;
    this.#local = local;
    this.#options = options;
    const deadline = setTimeout(() => {
      if (!this.#hello) ws.close(1008, 'no hello');
    }, options.helloTimeoutMs);
    deadline.unref();
    ws.once('close', () => clearTimeout(deadline));
    ws.on('message', (data: RawData, isBinary: boolean) => {
      try {
        this.#receive(data, isBinary);
      } catch (err) {
        const e = err instanceof ProtocolError ? err : new ProtocolError(1011, (err as Error).message);
        ws.close(e.wsCode, e.message.slice(0, 120));
      }
    });
    ws.on('error', (err) => options.logger.debug({ err }, 'haqlite serve: websocket error'));
  }

  #send(msg: Msg): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(msg));
  }

  #receive(data: RawData, isBinary: boolean): void {
    if (isBinary) throw new ProtocolError(1003, 'only the JSON encodings are served');
    let msg: Msg;
    try {
      msg = JSON.parse(data.toString()) as Msg;
    } catch {
      throw new ProtocolError(1007, 'the message is not JSON');
    }
    if (msg === null || typeof msg !== 'object') throw new ProtocolError(1002, 'a message must be an object');
    if (msg.type === 'hello') {
      this.#onHello(msg);
      return;
    }
    if (msg.type !== 'request') throw new ProtocolError(1002, `unknown message type ${String(msg.type)}`);
    if (!this.#hello) throw new ProtocolError(1002, 'the first message must be hello');
    const id = int(msg.request_id, 'request_id');
    const request = msg.request as Msg | null;
    if (request === null || typeof request !== 'object') throw new ProtocolError(1002, 'request must be an object');
    const bytes = Array.isArray(data)
      ? data.reduce((n, b) => n + b.length, 0)
      : Buffer.isBuffer(data)
        ? data.length
        : data.byteLength;
    this.#inFlight++;
    this.#inFlightBytes += bytes;
    this.#flow();
    void this.#answer(id, request).finally(() => {
      this.#inFlight--;
      this.#inFlightBytes -= bytes;
      this.#flow();
    });
  }

  /** Stops reading the connection while too much is in flight, and reads on once it drains. */
  #flow(): void {
    const full =
      this.#inFlight >= MAX_IN_FLIGHT ||
      this.#inFlightBytes >= MAX_IN_FLIGHT_MESSAGE_SIZES * this.#options.maxMessageBytes;
    if (full && !this.#paused) this.ws.pause();
    else if (!full && this.#paused) this.ws.resume();
    this.#paused = full;
  }

  #onHello(msg: Msg): void {
    if (!this.#options.tokenOk(typeof msg.jwt === 'string' ? msg.jwt : undefined)) {
      // Reported as the node's `unauthorized` event (the admin server's `auth_failure`).
      this.#db.emit('unauthorized', { via: 'hrana' });
      this.#send({ type: 'hello_error', error: { message: 'missing or wrong token', code: 'UNAUTHORIZED' } });
      this.ws.close(1008, 'unauthorized');
      return;
    }
    this.#hello = true;
    this.#send({ type: 'hello_ok' });
  }

  async #answer(id: number, request: Msg): Promise<void> {
    try {
      const response = await this.#run(request);
      this.#send({ type: 'response_ok', request_id: id, response });
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.ws.close(err.wsCode, err.message.slice(0, 120));
        return;
      }
      const error =
        err instanceof ResponseError
          ? err.error
          : err instanceof RequestError
            ? { message: err.message, code: err.code }
            : hranaError(err);
      this.#send({ type: 'response_error', request_id: id, error });
    }
  }

  async #run(r: Msg): Promise<Msg> {
    switch (r.type) {
      case 'open_stream': {
        const sid = int(r.stream_id, 'stream_id');
        if (this.#streams.has(sid)) throw new ProtocolError(1002, `stream ${sid} is already open`);
        if (this.#streams.size >= this.#options.maxStreams)
          throw new RequestError(400, `at most ${this.#options.maxStreams} streams per connection`, 'TOO_MANY_STREAMS');
        this.#streams.set(sid, null);
        return { type: 'open_stream' };
      }
      case 'close_stream':
        await this.#closeStream(int(r.stream_id, 'stream_id'));
        return { type: 'close_stream' };
      case 'store_sql': {
        const sqlId = int(r.sql_id, 'sql_id');
        if (typeof r.sql !== 'string') throw new ProtocolError(1002, 'store_sql needs sql');
        const bytes = this.#sqlBytes - (this.#sqls.get(sqlId)?.length ?? 0) + r.sql.length;
        if (bytes > this.#options.maxMessageBytes)
          throw new RequestError(400, 'the stored SQL texts exceed the message limit', 'TOO_MUCH_SQL');
        this.#sqls.set(sqlId, r.sql);
        this.#sqlBytes = bytes;
        return { type: 'store_sql' };
      }
      case 'close_sql': {
        const sqlId = int(r.sql_id, 'sql_id');
        this.#sqlBytes -= this.#sqls.get(sqlId)?.length ?? 0;
        this.#sqls.delete(sqlId);
        return { type: 'close_sql' };
      }
      case 'open_cursor': {
        const sid = int(r.stream_id, 'stream_id');
        const cid = int(r.cursor_id, 'cursor_id');
        if (this.#cursors.has(cid)) throw new ProtocolError(1002, `cursor ${cid} is already open`);
        if (this.#cursors.size >= this.#options.maxStreams)
          throw new RequestError(400, `at most ${this.#options.maxStreams} cursors per connection`, 'TOO_MANY_CURSORS');
        const reply = await this.#onStreamRequest(sid, { type: 'batch', batch: this.#inlineBatch(r.batch) });
        this.#cursors.set(cid, { entries: cursorEntries(reply), at: 0 });
        return { type: 'open_cursor' };
      }
      case 'fetch_cursor': {
        const cursor = this.#cursors.get(int(r.cursor_id, 'cursor_id'));
        if (cursor === undefined) throw new ProtocolError(1002, 'no such cursor');
        const max = Math.max(1, int(r.max_count, 'max_count'));
        const entries = cursor.entries.slice(cursor.at, cursor.at + max);
        cursor.at += entries.length;
        return { type: 'fetch_cursor', entries, done: cursor.at >= cursor.entries.length };
      }
      case 'close_cursor':
        this.#cursors.delete(int(r.cursor_id, 'cursor_id'));
        return { type: 'close_cursor' };
      case 'execute':
        return this.#onStreamRequest(int(r.stream_id, 'stream_id'), { type: 'execute', stmt: this.#inline(r.stmt) });
      case 'batch':
        return this.#onStreamRequest(int(r.stream_id, 'stream_id'), {
          type: 'batch',
          batch: this.#inlineBatch(r.batch),
        });
      case 'sequence':
      case 'describe':
        return this.#onStreamRequest(int(r.stream_id, 'stream_id'), { type: r.type, sql: sqlText(r, this.#sqls) });
      case 'get_autocommit':
        return this.#onStreamRequest(int(r.stream_id, 'stream_id'), { type: 'get_autocommit' });
      default:
        throw new ProtocolError(1002, `unknown request type ${String(r.type)}`);
    }
  }

  /** `stmt` with a `sql_id` (stored on this connection) replaced by its text. */
  #inline(stmt: unknown): Msg {
    const s = stmt as Msg | null;
    if (s === null || typeof s !== 'object')
      throw new RequestError(400, 'stmt must be an object', 'HADB_HAQLITE_INVALID_VALUE');
    const { sql_id: _, ...rest } = s;
    return { ...rest, sql: sqlText(s, this.#sqls) };
  }

  #inlineBatch(batch: unknown): Msg {
    const steps = (batch as { steps?: unknown } | null)?.steps;
    if (!Array.isArray(steps))
      throw new RequestError(400, 'batch.steps must be an array', 'HADB_HAQLITE_INVALID_VALUE');
    return {
      steps: steps.map((step: Msg | null) => ({ ...step, stmt: this.#inline(step?.stmt) })),
    };
  }

  /** Runs `fn` after every earlier request on stream `sid`. */
  #onStream<T>(sid: number, fn: () => Promise<T>): Promise<T> {
    const prior = this.#tails.get(sid) ?? Promise.resolve();
    const run = prior.then(fn);
    this.#tails.set(
      sid,
      run.then(
        () => undefined,
        () => undefined,
      ),
    );
    return run;
  }

  /** Runs one pipeline request on stream `sid` and returns its response (or throws its error). */
  #onStreamRequest(sid: number, request: Msg): Promise<Msg> {
    if (!this.#streams.has(sid)) throw new ProtocolError(1002, `stream ${sid} is not open`);
    return this.#onStream(sid, async () => {
      const baton = this.#streams.get(sid);
      if (baton === undefined) throw new RequestError(400, 'the stream is closed or expired', 'STREAM_EXPIRED');
      let reply: { baton: string | null; result: Msg };
      try {
        reply = await this.#pipeline(baton, request);
      } catch (err) {
        if (err instanceof RequestError && err.code === 'STREAM_EXPIRED') this.#streams.set(sid, undefined);
        throw err;
      }
      if (this.#streams.has(sid)) this.#streams.set(sid, reply.baton ?? undefined);
      if (reply.result.type === 'error') throw new ResponseError(reply.result.error as ResponseError['error']);
      return reply.result.response as Msg;
    });
  }

  /** One request as a pipeline on `baton` (`null`: a new stream), here or relayed to the leader. */
  async #pipeline(baton: string | null, request: Msg): Promise<{ baton: string | null; result: Msg }> {
    const body = { baton, requests: [request] };
    const reply = (await relayPipeline(this.#db, this.#local, body)) ?? (await this.#local.handle(body));
    const results = reply.results as Msg[];
    return { baton: typeof reply.baton === 'string' ? reply.baton : null, result: results[0]! };
  }

  /** Closes stream `sid` after its earlier requests (rolling back its transaction). */
  async #closeStream(sid: number): Promise<void> {
    await this.#onStream(sid, async () => {
      const baton = this.#streams.get(sid);
      this.#streams.delete(sid);
      if (typeof baton === 'string') await this.#pipeline(baton, { type: 'close' }).catch(() => undefined);
    });
    this.#tails.delete(sid);
  }

  /** Closes every stream this connection still holds, each after its requests in flight. */
  release(): Promise<void> {
    this.#released ??= (async () => {
      this.#cursors.clear();
      await Promise.all([...this.#streams.keys()].map((sid) => this.#closeStream(sid)));
    })();
    return this.#released;
  }
}
