// The in-process half of a real-process HA test: a node program (test/fixtures/node.ts of an
// engine) opens its database and hands it to `serveNodeFixture`, which speaks the JSON line
// protocol `ProcessCluster`/`NodeProcess` drive.
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';

/** What the fixture needs of an HA database (`HaDuck`, `HaQLite`). */
export interface FixtureDatabase {
  readonly role: string;
  on(event: 'promoted' | 'demoted', listener: () => void): unknown;
  execute(
    sql: string,
    params: never,
    options: { readonly idempotencyToken?: string; readonly durability?: never },
  ): Promise<unknown>;
  query(sql: string, params: never, options: { readonly consistency?: never }): Promise<{ readonly rows: unknown }>;
  sync(): Promise<unknown>;
  stats(): object;
  close(): Promise<void>;
}

/** Options of {@link serveNodeFixture}. */
export interface NodeFixtureOptions {
  /** The `writeLoop` statement, with two parameters (writer, seq) in the engine's syntax. */
  readonly insertRow: string;
  /** The `execute` reply from the engine's result. Default: the result as is. */
  readonly executeReply?: ((result: unknown) => unknown) | undefined;
  /** Extra fields of the `stats` reply. */
  readonly extraStats?: (() => object) | undefined;
  /** Releases what the program opened besides the database (lease store, storage), on `close`. */
  readonly release?: (() => Promise<void>) | undefined;
}

const out = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
};

/** True for a hadb error the caller may retry (`retryable` set by the HA layer). */
function retryable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { retryable?: unknown }).retryable === true;
}

/**
 * Serves `db` over stdin/stdout: prints `{"event":"open","role":…}` now and `promoted`/`demoted`
 * events later, then answers one JSON command per line (`{id, op, …}` → `{id, ok}` or
 * `{id, error: {code, message}}`): `execute {sql, params, durability}`, `query {sql, params,
 * consistency}`, `sync`, `stats`, `writeLoop {writer, from, count, durability, perSecond}` (rows
 * written with one idempotency token each across retries; replies the acknowledged seqs) and
 * `close` (closes, releases, exits 0).
 */
export function serveNodeFixture(db: FixtureDatabase, options: NodeFixtureOptions): void {
  db.on('promoted', () => out({ event: 'promoted', role: db.role }));
  db.on('demoted', () => out({ event: 'demoted', role: db.role }));
  out({ event: 'open', role: db.role });

  const writeLoop = async (
    writer: string,
    from: number,
    count: number,
    durability: never,
    perSecond: number,
  ): Promise<number[]> => {
    const acked: number[] = [];
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const seq = from + i;
      jobs.push(
        (async () => {
          const token = randomUUID();
          const deadline = Date.now() + 30_000;
          while (Date.now() < deadline) {
            try {
              await db.execute(options.insertRow, [writer, seq] as never, { idempotencyToken: token, durability });
              acked.push(seq);
              return;
            } catch (err) {
              if (!retryable(err)) throw err;
              await new Promise((r) => setTimeout(r, 100));
            }
          }
        })(),
      );
      await new Promise((r) => setTimeout(r, 1000 / perSecond));
    }
    await Promise.allSettled(jobs);
    return acked.sort((a, b) => a - b);
  };

  createInterface({ input: process.stdin }).on('line', (line) => {
    const cmd = JSON.parse(line) as { id: number; op: string; [k: string]: unknown };
    void (async () => {
      try {
        switch (cmd.op) {
          case 'execute': {
            const r = await db.execute(cmd.sql as string, cmd.params as never, { durability: cmd.durability as never });
            return out({ id: cmd.id, ok: options.executeReply === undefined ? r : options.executeReply(r) });
          }
          case 'query': {
            const r = await db.query(cmd.sql as string, cmd.params as never, { consistency: cmd.consistency as never });
            return out({ id: cmd.id, ok: r.rows });
          }
          case 'sync':
            await db.sync();
            return out({ id: cmd.id, ok: true });
          case 'stats':
            return out({ id: cmd.id, ok: { ...db.stats(), ...options.extraStats?.() } });
          case 'writeLoop': {
            const acked = await writeLoop(
              cmd.writer as string,
              cmd.from as number,
              cmd.count as number,
              cmd.durability as never,
              cmd.perSecond as number,
            );
            return out({ id: cmd.id, ok: acked });
          }
          case 'close':
            await db.close();
            out({ id: cmd.id, ok: true });
            await options.release?.();
            process.exit(0);
        }
      } catch (err) {
        out({ id: cmd.id, error: { code: (err as { code?: string }).code, message: (err as Error).message } });
      }
    })();
  });
}

/**
 * Lease timings scaled to `ttlMs` for test clusters: renew at 40 % of the TTL, poll at 20 %, a
 * skew margin of 20 % (at most 1 s) — core's rules hold for any TTL from 500 ms up.
 */
export function testLeaseTiming(ttlMs: number): {
  ttlMs: number;
  renewIntervalMs: number;
  pollIntervalMs: number;
  skewMarginMs: number;
} {
  return { ttlMs, renewIntervalMs: ttlMs * 0.4, pollIntervalMs: ttlMs / 5, skewMarginMs: Math.min(1000, ttlMs / 5) };
}
