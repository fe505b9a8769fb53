import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { S3StorageBackend } from '@hadb/storage-s3';
import { testService, until, webhookReceiver } from '@hadb/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './fixtures.js';
import { finished, spawnHadb } from './harness.js';

const s3 = testService('s3');
const env = s3.env;
const SECRET = 'hook-secret-0123456789';
const PREFIX = `hadb-cli-breaker/${process.pid}-${Date.now().toString(36)}/`;

function sqlite(path: string, sql: string): void {
  execFileSync('sqlite3', ['-cmd', '.timeout 10000', path, sql]);
}

/** A TCP proxy to the S3 server that can start refusing: every connection is then reset. */
async function proxy(target: URL): Promise<{ port: number; broken: { on: boolean }; close(): Promise<void> }> {
  const broken = { on: false };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (broken.on) return void client.resetAndDestroy();
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.on('close', () => sockets.delete(client)).on('error', () => upstream.destroy());
    upstream.on('close', () => sockets.delete(upstream)).on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    get broken() {
      return {
        get on() {
          return broken.on;
        },
        set on(v: boolean) {
          broken.on = v;
          if (v) for (const s of sockets) s.resetAndDestroy();
        },
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('replicate-breaker'));
}, 60_000);

afterAll(async () => {
  await cleanup?.();
  if (!s3.available) return;
  const storage = await S3StorageBackend.open({
    bucket: env.HADB_TEST_S3_BUCKET!,
    prefix: PREFIX,
    endpoint: env.HADB_TEST_S3_ENDPOINT,
    region: env.HADB_TEST_S3_REGION ?? 'us-east-1',
    unquotedIfMatch: env.HADB_TEST_S3_UNQUOTED_IF_MATCH === '1',
    credentials: {
      accessKeyId: env.HADB_TEST_S3_ACCESS_KEY_ID!,
      secretAccessKey: env.HADB_TEST_S3_SECRET_ACCESS_KEY!,
    },
  });
  await storage.deleteMany(await storage.list(''));
  await storage.close();
});

describe.skipIf(!s3.available)('hadb replicate --admin against S3 that stops answering', () => {
  it('reports the S3 circuit breaker opening as a signed circuit_breaker_open webhook', async () => {
    const p = await proxy(new URL(env.HADB_TEST_S3_ENDPOINT!));
    await using hooks = await webhookReceiver({ secret: SECRET });
    try {
      const db = join(dir, 'app.db');
      sqlite(db, 'PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);');
      const q = new URLSearchParams({ endpoint: `http://127.0.0.1:${p.port}` });
      if (env.HADB_TEST_S3_UNQUOTED_IF_MATCH === '1') q.set('unquoted-if-match', 'true');
      const config = join(dir, 'hadb.yml');
      await writeFile(
        config,
        [
          'dbs:',
          `  - path: ${db}`,
          '    name: app',
          '    sync-interval: 50ms',
          `    replicas: [{ url: "s3://${env.HADB_TEST_S3_BUCKET}/${PREFIX}?${q}" }]`,
          'admin:',
          '  listen: 127.0.0.1:0',
          '  webhooks: [{ url: "${HOOK_URL}", secret: "${HOOK_SECRET}", events: [circuit_breaker_open] }]',
          '',
        ].join('\n'),
      );
      const child = spawnHadb(['replicate', '-c', config], {
        HOOK_URL: hooks.url,
        HOOK_SECRET: SECRET,
        AWS_ACCESS_KEY_ID: env.HADB_TEST_S3_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: env.HADB_TEST_S3_SECRET_ACCESS_KEY,
      });
      const done = finished(child);
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      try {
        await until(() => out.includes('ready: replicating 1 database'), { timeoutMs: 60_000, what: 'ready' });
        p.broken.on = true;
        // Commits keep the daemon's sync loop calling S3; every attempt is reset.
        for (let i = 0; i < 3; i++) sqlite(db, `INSERT INTO t (v) VALUES ('row ${i}');`);
        const opened = await hooks.waitFor('circuit_breaker_open', { timeoutMs: 90_000 });
        expect(opened.verified).toBe(true);
        expect(opened.json).toMatchObject({ event: 'circuit_breaker_open', database: 'app' });
        expect((opened.json!.context as { failures: number }).failures).toBeGreaterThanOrEqual(10);
        expect(err).toMatch(/storage circuit breaker open after \d+ consecutive failures/);
        expect(hooks.received.every((r) => r.json?.event === 'circuit_breaker_open')).toBe(true);
      } finally {
        child.kill('SIGKILL');
        await done;
      }
    } finally {
      await p.close();
    }
  }, 150_000);
});
