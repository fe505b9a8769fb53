import { createClient, LibsqlError, type Client } from '@libsql/client';
import { describe, expect, it } from 'vitest';
import { type HaQLite, isHaQLiteError, serve, type HranaServer } from '../src/index.js';
import { localNodes } from './local-nodes.js';

const { node, defer } = localNodes('hrana');

/**
 * How `@libsql/client` reaches the server: its URL for `server.url` (`http://host:port`), and the
 * transport the client then uses (in Node it maps `libsql:` URLs to HTTP).
 */
const TRANSPORTS = {
  HTTP: { urlOf: (url: string) => url, protocol: 'http' },
  WebSocket: { urlOf: (url: string) => url.replace(/^http:/, 'ws:'), protocol: 'ws' },
  'a libsql: URL': { urlOf: (url: string) => `${url.replace(/^http:/, 'libsql:')}?tls=0`, protocol: 'http' },
} as const;

for (const [transport, { urlOf, protocol }] of Object.entries(TRANSPORTS)) {
  async function served(db: HaQLite, authToken = 'secret-token'): Promise<{ server: HranaServer; client: Client }> {
    const server = await serve(db, { port: 0, authToken });
    const client = createClient({ url: urlOf(server.url), authToken, intMode: 'bigint' });
    expect(client.protocol).toBe(protocol);
    defer(() => server.close());
    defer(() => client.close());
    return { server, client };
  }

  describe(`Hrana over ${transport} with @libsql/client`, () => {
    it('execute, batch, types, errors', async () => {
      const { client } = await served(await node('a'));
      await client.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, f REAL, s TEXT, b BLOB)');
      const big = 2n ** 62n + 12345n;
      const r = await client.execute({
        sql: 'INSERT INTO t (i, f, s, b) VALUES (?, ?, ?, ?)',
        args: [big, 0.25, 'héllo', new Uint8Array([1, 2, 255])],
      });
      expect(r.rowsAffected).toBe(1);
      expect(r.lastInsertRowid).toBe(1n);
      await client.execute({ sql: 'INSERT INTO t (i, s) VALUES (:i, :s)', args: { i: -(2n ** 63n), s: null } });
      const q = await client.execute('SELECT id, i, f, s, b FROM t ORDER BY id');
      expect(q.columns).toEqual(['id', 'i', 'f', 's', 'b']);
      expect(q.columnTypes).toEqual(['INTEGER', 'INTEGER', 'REAL', 'TEXT', 'BLOB']);
      expect(q.rows[0]!.i).toBe(big);
      expect(q.rows[0]!.f).toBe(0.25);
      expect(q.rows[0]!.s).toBe('héllo');
      expect([...new Uint8Array(q.rows[0]!.b as ArrayBuffer)]).toEqual([1, 2, 255]);
      expect(q.rows[1]!.i).toBe(-(2n ** 63n));
      expect(q.rows[1]!.s).toBeNull();
      expect(q.rows[1]!.f).toBeNull();

      const results = await client.batch(
        [
          { sql: 'INSERT INTO t (s) VALUES (?)', args: ['x'] },
          { sql: 'INSERT INTO t (s) VALUES (?)', args: ['y'] },
          'SELECT count(*) AS n FROM t',
        ],
        'write',
      );
      expect(results.map((x) => x.rowsAffected).slice(0, 2)).toEqual([1, 1]);
      expect(results[2]!.rows[0]!.n).toBe(4n);

      // A failing batch rolls back as a whole.
      await expect(
        client.batch(['INSERT INTO t (s) VALUES (1)', 'INSERT INTO nope VALUES (1)'], 'write'),
      ).rejects.toBeInstanceOf(LibsqlError);
      expect((await client.execute('SELECT count(*) AS n FROM t')).rows[0]!.n).toBe(4n);
      const err = await client.execute('SELEC 1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LibsqlError);
      expect((err as LibsqlError).message).toMatch(/syntax error/);
      await client.executeMultiple('CREATE TABLE u (x); INSERT INTO u VALUES (1); INSERT INTO u VALUES (2);');
      expect((await client.execute('SELECT sum(x) AS s FROM u')).rows[0]!.s).toBe(3n);
    });

    it('interactive transactions commit and roll back', async () => {
      const db = await node('a');
      const { client } = await served(db);
      await client.execute('CREATE TABLE t (v TEXT)');
      const tx = await client.transaction('write');
      await tx.execute({ sql: 'INSERT INTO t VALUES (?)', args: ['in tx'] });
      expect((await tx.execute('SELECT count(*) AS n FROM t')).rows[0]!.n).toBe(1n);
      await tx.commit();
      const tx2 = await client.transaction('write');
      await tx2.execute("INSERT INTO t VALUES ('rolled back')");
      await tx2.rollback();
      expect((await client.execute('SELECT v FROM t')).rows.map((r) => r.v)).toEqual(['in tx']);
      expect((await db.query('SELECT count(*) FROM t')).rows[0]![0]).toBe(1n);
    });

    it('a follower serves reads and forwards writes and batches', async () => {
      const a = await node('a');
      const b = await node('b');
      expect(b.role).toBe('follower');
      const { client } = await served(b);
      await client.execute('CREATE TABLE t (v TEXT)');
      await client.execute({ sql: 'INSERT INTO t VALUES (?)', args: ['via b'] });
      await client.batch(["INSERT INTO t VALUES ('batch 1')", "INSERT INTO t VALUES ('batch 2')"], 'write');
      expect((await a.query('SELECT count(*) FROM t')).rows[0]![0]).toBe(3n);
      // Reads are served by the follower's replica once it applied the leader's changesets.
      await a.sync();
      await b.sync();
      expect((await client.execute('SELECT count(*) AS n FROM t')).rows[0]!.n).toBe(3n);
    });

    it('a follower relays interactive transactions to the leader', async () => {
      const a = await node('a');
      const b = await node('b');
      expect(b.role).toBe('follower');
      const { client } = await served(b);
      await client.execute('CREATE TABLE t (v TEXT)');
      const tx = await client.transaction('write');
      await tx.execute({ sql: 'INSERT INTO t VALUES (?)', args: ['one'] });
      await tx.execute("INSERT INTO t VALUES ('two')");
      // The transaction sees its own uncommitted writes; nothing is visible outside it yet.
      expect((await tx.execute('SELECT count(*) AS n FROM t')).rows[0]!.n).toBe(2n);
      expect((await a.query('SELECT count(*) FROM t')).rows[0]![0]).toBe(0n);
      const batch = await tx.batch(["INSERT INTO t VALUES ('three')", 'SELECT count(*) AS n FROM t']);
      expect(batch[1]!.rows[0]!.n).toBe(3n);
      await tx.commit();
      expect((await a.query('SELECT v FROM t ORDER BY rowid')).rows.map((r) => r[0])).toEqual(['one', 'two', 'three']);
      await a.sync();
      await b.sync();
      expect((await client.execute('SELECT count(*) AS n FROM t')).rows[0]!.n).toBe(3n);
      expect((await b.query('SELECT count(*) FROM t')).rows[0]![0]).toBe(3n);

      const tx2 = await client.transaction('write');
      await tx2.execute("INSERT INTO t VALUES ('rolled back')");
      expect((await tx2.execute('SELECT count(*) AS n FROM t')).rows[0]!.n).toBe(4n);
      await tx2.rollback();
      await a.sync();
      await b.sync();
      expect((await a.query('SELECT count(*) FROM t')).rows[0]![0]).toBe(3n);
      expect((await client.execute('SELECT count(*) AS n FROM t')).rows[0]!.n).toBe(3n);
      // A failing statement inside the transaction is reported; the transaction goes on.
      const tx3 = await client.transaction('write');
      await expect(tx3.execute('INSERT INTO nope VALUES (1)')).rejects.toBeInstanceOf(LibsqlError);
      await tx3.execute("INSERT INTO t VALUES ('four')");
      await tx3.commit();
      expect((await a.query('SELECT count(*) FROM t')).rows[0]![0]).toBe(4n);
    });

    it('a failover mid-transaction expires the stream and writes nothing', async () => {
      const a = await node('a');
      const b = await node('b');
      const { client } = await served(b);
      await client.execute('CREATE TABLE t (v TEXT)');
      const tx = await client.transaction('write');
      await tx.execute("INSERT INTO t VALUES ('lost')");
      // The leader hands over to b: its relayed stream (and open transaction) is rolled back.
      await a.close();
      await b.waitForRole('leader');
      const err = await tx.execute("INSERT INTO t VALUES ('after')").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LibsqlError);
      expect((err as LibsqlError).code).toBe('STREAM_EXPIRED');
      tx.close();
      expect((await b.query('SELECT count(*) FROM t')).rows[0]![0]).toBe(0n);
      // The client keeps working against b, now the leader, transactions included.
      const tx2 = await client.transaction('write');
      await tx2.execute("INSERT INTO t VALUES ('kept')");
      await tx2.commit();
      expect((await b.query('SELECT v FROM t')).rows.map((r) => r[0])).toEqual(['kept']);
    });

    it('a follower the leader refuses (wrong forwarding secret) refuses BEGIN, and nothing runs', async () => {
      const a = await node('a', { secret: 'leader-secret-0123456789' });
      const b = await node('b', { secret: 'other-secret-9876543210' });
      expect(b.role).toBe('follower');
      await a.execute('CREATE TABLE t (v TEXT)');
      const { client } = await served(b);
      const tx = await client.transaction('write');
      const err = await tx.execute("INSERT INTO t VALUES ('in tx')").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LibsqlError);
      expect((err as LibsqlError).code).toBe('HADB_HAQLITE_TRANSACTION_ON_FOLLOWER');
      tx.close();
      expect((await a.query('SELECT count(*) FROM t')).rows[0]![0]).toBe(0n);
    });

    it('refuses a wrong token', async () => {
      const db = await node('a');
      const { server } = await served(db);
      let refused = 0;
      db.on('unauthorized', () => refused++);
      const bad = createClient({ url: urlOf(server.url), authToken: 'wrong' });
      defer(() => bad.close());
      await expect(bad.execute('SELECT 1')).rejects.toBeInstanceOf(LibsqlError);
      const none = createClient({ url: urlOf(server.url) });
      defer(() => none.close());
      await expect(none.execute('SELECT 1')).rejects.toBeInstanceOf(LibsqlError);
      expect(refused).toBeGreaterThanOrEqual(2);
    });
  });
}

describe('Hrana server: routes, limits, guard', () => {
  it('auth, routes, and the non-loopback guard', async () => {
    const db = await node('a');
    const server = await serve(db, { port: 0, authToken: 'secret-token' });
    defer(() => server.close());
    expect((await fetch(`${server.url}/v3`, { headers: { authorization: 'Bearer secret-token' } })).status).toBe(200);
    expect((await fetch(`${server.url}/v3`)).status).toBe(401);
    const big = await fetch(`${server.url}/v3/pipeline`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret-token' },
      body: JSON.stringify({
        baton: null,
        requests: [{ type: 'execute', stmt: { sql: `SELECT '${'x'.repeat(17 * 1024 * 1024)}'` } }],
      }),
    }).catch(() => null);
    expect(big === null || big.status === 413).toBe(true);
    const stale = await fetch(`${server.url}/v3/pipeline`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret-token' },
      body: JSON.stringify({ baton: 'nope.nope', requests: [] }),
    });
    expect(stale.status).toBe(400);
    // A relayed baton the leader does not hold (here: this node leads, so it checks its own relay streams).
    const staleRelay = await fetch(`${server.url}/v3/pipeline`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret-token' },
      body: JSON.stringify({ baton: '~nope.nope', requests: [] }),
    });
    expect(staleRelay.status).toBe(400);
    expect(((await staleRelay.json()) as { code: string }).code).toBe('STREAM_EXPIRED');
    await expect(serve(db, { host: '0.0.0.0', port: 0 })).rejects.toSatisfy((e) =>
      isHaQLiteError(e, 'HADB_HAQLITE_INVALID_CONFIG'),
    );
  });
});
