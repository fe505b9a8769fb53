// `pnpm demo sqlite`: a haqlite leader and a follower as two `haqlite serve` processes on embedded
// defaults (directory storage in a temp dir, the lease an object in it; no servers). Writes rows
// through the real @libsql/client (to the leader, and forwarded through the follower), SIGKILLs
// the leader, shows the follower promoted and writes continuing, checks that no row acknowledged
// as shipped was lost or duplicated, and prints a summary. Exits non-zero if a check fails.
// Tuning: DEMO_STEADY_MS (default 5000), DEMO_AFTER_MS (4000), HAQLITE_TTL_MS (2000).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { createClient } = await import(
  pathToFileURL(createRequire(join(root, 'packages/haqlite/package.json')).resolve('@libsql/client')).href
);
const env = process.env;
const steadyMs = Number(env.DEMO_STEADY_MS ?? 5000);
const afterMs = Number(env.DEMO_AFTER_MS ?? 4000);
const ttlMs = env.HAQLITE_TTL_MS ?? '2000';
const scratch = mkdtempSync(join(tmpdir(), 'haqlite-demo-'));
const token = randomBytes(16).toString('hex');
const started = Date.now();
const children = new Set();
const say = (msg) => process.stdout.write(`[demo sqlite +${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function node(name) {
  const child = spawn(
    process.execPath,
    [
      '--conditions=hadb-source',
      '--import',
      'tsx',
      join(root, 'packages/haqlite/src/bin/haqlite.ts'),
      'serve',
      '--path',
      join(scratch, `${name}.db`),
      '--name',
      'demo',
      '--storage',
      pathToFileURL(join(scratch, 'storage')).href,
      '--instance',
      name,
      '--listen',
      '127.0.0.1:0',
      '--ttl-ms',
      ttlMs,
      '--durability',
      'shipped',
      '--ship-interval-ms',
      '200',
    ],
    { cwd: root, env: { ...env, HAQLITE_AUTH_TOKEN: token, HAQLITE_SECRET: token }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  const events = [];
  const waiters = new Set();
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-20000)));
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      events.push(JSON.parse(line));
    } catch {
      return;
    }
    for (const w of [...waiters]) w();
  });
  const waitFor = (pred, ms = 30_000) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${name}: timed out\n${stderr}`)), ms);
      const check = () => {
        const hit = events.find(pred);
        if (hit) {
          clearTimeout(t);
          waiters.delete(check);
          resolve(hit);
        }
      };
      waiters.add(check);
      check();
    });
  return { name, child, events, waitFor };
}

let failed = false;
try {
  say(`scratch ${scratch}`);
  const a = node('a');
  const aOpen = await a.waitFor((e) => e.event === 'open');
  say(`node a is ${aOpen.role} at ${aOpen.url}`);
  const b = node('b');
  const bOpen = await b.waitFor((e) => e.event === 'open');
  say(`node b is ${bOpen.role} at ${bOpen.url}`);
  const ca = createClient({ url: aOpen.url, authToken: token, intMode: 'bigint' });
  const cb = createClient({ url: bOpen.url, authToken: token, intMode: 'bigint' });
  await ca.execute(
    'CREATE TABLE IF NOT EXISTS rows (writer TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (writer, seq))',
  );

  const acked = [];
  let killedAt = 0;
  let firstAfterKill = 0;
  let errors = 0;
  let running = true;
  /** Writes one row through `client`, retrying through `fallback` until acknowledged (INSERT OR IGNORE makes retries safe). */
  const write = async (writer, seq, clients) => {
    const startedAt = Date.now();
    for (let attempt = 0; attempt < 200; attempt++) {
      const client = clients[attempt === 0 ? 0 : clients.length - 1];
      try {
        await client.execute({ sql: 'INSERT OR IGNORE INTO rows VALUES (?, ?)', args: [writer, seq] });
        acked.push(`${writer}:${seq}`);
        if (killedAt > 0 && startedAt > killedAt && firstAfterKill === 0) firstAfterKill = Date.now();
        return;
      } catch {
        errors++;
        await sleep(100);
      }
    }
  };
  const loop = async (writer, perSecond, clients) => {
    let seq = 0;
    while (running) {
      await write(writer, ++seq, clients());
      await sleep(1000 / perSecond);
    }
  };
  let leaderClients = [ca, cb];
  const loops = [loop('leader', 20, () => leaderClients), loop('follower', 5, () => [cb])];

  await sleep(steadyMs);
  const onLeader = (await ca.execute('SELECT count(*) AS n FROM rows')).rows[0].n;
  const onFollower = (await cb.execute('SELECT count(*) AS n FROM rows')).rows[0].n;
  say(`steady: ${acked.length} rows acknowledged as shipped; leader has ${onLeader}, follower replica ${onFollower}`);
  say('SIGKILL the leader (a)');
  killedAt = Date.now();
  leaderClients = [cb];
  a.child.kill('SIGKILL');
  await b.waitFor((e) => e.event === 'promoted', 30_000);
  const promotedMs = Date.now() - killedAt;
  say(`node b promoted ${promotedMs} ms after the kill`);
  await sleep(afterMs);
  running = false;
  await Promise.all(loops);
  const rows = (await cb.execute('SELECT writer, seq FROM rows')).rows.map((r) => `${r.writer}:${r.seq}`);
  const have = new Set(rows);
  const lost = acked.filter((k) => !have.has(k));
  const dupes = acked.length - new Set(acked).size;
  say(
    `summary: ${acked.length} rows acknowledged, ${rows.length} rows on the new leader, lost ${lost.length}, duplicate acks ${dupes}`,
  );
  say(
    `summary: promotion ${promotedMs} ms after SIGKILL, first write started after the kill acknowledged at +${firstAfterKill - killedAt} ms, ${errors} failed attempts retried`,
  );
  if (lost.length > 0 || dupes > 0) {
    failed = true;
    say(`FAILED: lost ${lost.slice(0, 10).join(', ')}`);
  } else {
    say('OK: no acknowledged row lost, none duplicated; writes continued through the failover');
  }
  ca.close();
  cb.close();
} catch (err) {
  failed = true;
  say(`FAILED: ${err.stack ?? err}`);
} finally {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await sleep(500);
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
