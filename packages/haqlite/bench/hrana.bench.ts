// `pnpm bench haqlite/bench/hrana`: the real `@libsql/client` against `serve()` on a haqlite leader
// (committed durability), over Hrana over HTTP and over WebSocket, beside the same calls through the
// in-process async API, in the same run: a point lookup and a single INSERT, one client waiting for
// each answer. Storage: a local directory (fsync on every object).
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@libsql/client';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { HaQLite, serve } from '../src/index.js';
import { interleaved } from './haqlite.bench.js';

const ROWS = 100_000;
const CALLS = 4000;

export async function run(ctx: BenchContext): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'haqlite-hrana-bench-'));
  const storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
  const lease = new StorageLeaseStore(storage, { prefix: 'leases/' });
  const leader = await HaQLite.open({
    name: 'bench',
    storage,
    lease: { store: lease, ttlMs: 5000, renewIntervalMs: 2000, pollIntervalMs: 1000, skewMarginMs: 1000 },
    shipIntervalMs: 1000,
    path: join(dir, 'a.db'),
    instanceId: 'a',
  });
  const authToken = 'bench-token';
  const server = await serve(leader, { port: 0, authToken });
  const http = createClient({ url: server.url, authToken, intMode: 'bigint' });
  const ws = createClient({ url: server.url.replace(/^http:/, 'ws:'), authToken, intMode: 'bigint' });
  try {
    ctx.record('machine load average (1 min) at the start', loadavg()[0]!, 'load', `${cpus().length} cores, shared`);
    await leader.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, v TEXT NOT NULL)');
    await leader.execute(
      `WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < ${ROWS}) INSERT INTO t SELECT i, i % 1000, 'value ' || i FROM r`,
    );
    await leader.sync();
    const id = (i: number): number => 1 + ((i * 7919) % ROWS);
    const lookup = 'SELECT id, k, v FROM t WHERE id = ?';
    const insert = 'INSERT INTO t (k, v) VALUES (?, ?)';
    const cases = [
      {
        name: 'point lookup',
        local: (i: number) => leader.query(lookup, [id(i)]),
        http: (i: number) => http.execute({ sql: lookup, args: [id(i)] }),
        ws: (i: number) => ws.execute({ sql: lookup, args: [id(i)] }),
      },
      {
        name: 'single INSERT',
        local: (i: number) => leader.execute(insert, [i % 1000, `local ${i}`]),
        http: (i: number) => http.execute({ sql: insert, args: [i % 1000, `http ${i}`] }),
        ws: (i: number) => ws.execute({ sql: insert, args: [i % 1000, `ws ${i}`] }),
      },
    ];
    for (const c of cases) {
      const [localUs, httpUs, wsUs] = (await interleaved(CALLS, [c.local, c.http, c.ws], () => leader.sync(), 20)) as [
        number,
        number,
        number,
      ];
      const note = `one @libsql/client waiting for each answer, ${CALLS} calls in 20 alternating blocks, medians of block means`;
      ctx.record(`${c.name}: in-process async API`, localUs, 'µs/op');
      ctx.record(`${c.name}: @libsql/client over HTTP`, httpUs, 'µs/op', note);
      ctx.record(`${c.name}: @libsql/client over WebSocket`, wsUs, 'µs/op', note);
      ctx.record(`${c.name}: WebSocket ÷ HTTP`, wsUs / httpUs, 'ratio', 'same run');
      ctx.record(
        `${c.name}: HTTP ÷ in-process`,
        httpUs / localUs,
        'ratio',
        'what the protocol and the loopback round trip add',
      );
    }
  } finally {
    http.close();
    ws.close();
    await server.close();
    await leader.close();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
