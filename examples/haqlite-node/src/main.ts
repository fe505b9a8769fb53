// One haqlite node in either role: it joins the cluster (leader if none), serves the libSQL remote
// protocol, and writes WRITE_RATE rows per second through @libsql/client against its own server
// (a follower forwards them to the leader). Every stdout line is one JSON event.
//
//   DIR=/tmp/hq NODE_ID=a PORT=8080 WRITE_RATE=10 pnpm start     # first node: the leader
//   DIR=/tmp/hq NODE_ID=b PORT=8081 pnpm start                    # second node: a follower
import { createClient } from '@libsql/client';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import { HaQLite, serve } from '@hadb/haqlite';

const env = process.env;
const dir = env.DIR ?? './haqlite-example';
const id = env.NODE_ID ?? 'a';
const rate = Number(env.WRITE_RATE ?? 0);
const token = env.HAQLITE_AUTH_TOKEN ?? 'example-token';
const log = (event: string, data: Record<string, unknown> = {}): void => {
  process.stdout.write(
    `${JSON.stringify({ t: new Date().toISOString(), event, ...data }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`,
  );
};

const storage = await LocalStorageBackend.open({ root: `${dir}/storage` });
const lease = new StorageLeaseStore(storage, { prefix: 'leases/' });
const db = await HaQLite.open({
  path: `${dir}/${id}.db`,
  name: 'example',
  storage,
  lease: { store: lease, ttlMs: 2000, renewIntervalMs: 800, pollIntervalMs: 400, skewMarginMs: 400 },
  instanceId: id,
  secret: token,
  durability: 'shipped',
});
db.on('promoted', () => log('promoted'));
db.on('demoted', () => log('demoted'));
const server = await serve(db, { port: Number(env.PORT ?? 0), authToken: token });
log('open', { role: db.role, url: server.url });

const client = createClient({ url: server.url, authToken: token, intMode: 'bigint' });
await client.execute(
  'CREATE TABLE IF NOT EXISTS rows (writer TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (writer, seq))',
);
let seq = 0;
const writer =
  rate > 0
    ? setInterval(() => {
        const s = ++seq;
        client.execute({ sql: 'INSERT OR IGNORE INTO rows VALUES (?, ?)', args: [id, s] }).then(
          () => log('written', { seq: s }),
          (err: Error) => log('write-failed', { seq: s, message: err.message }),
        );
      }, 1000 / rate)
    : undefined;
const stats = setInterval(() => log('stats', { ...db.stats() }), 2000);

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(writer);
  clearInterval(stats);
  client.close();
  await server.close();
  await db.close();
  await lease.close();
  await storage.close();
  log('closed');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
