import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { until } from '@hadb/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseListen } from '../src/admin-config.js';
import { tempDir } from './fixtures.js';
import { finished, hadb, spawnHadb } from './harness.js';

function sqlite(path: string, sql: string): string {
  return execFileSync('sqlite3', ['-cmd', '.timeout 10000', path, sql], { encoding: 'utf8' }).trim();
}

const TOKEN = 'replicate-admin-token-0123456789';

let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('replicate-admin'));
}, 60_000);

afterAll(async () => {
  await cleanup();
});

/** Two databases on two replicas (two walstream groups in one process). */
async function twoGroupConfig(extra: string[] = []): Promise<string> {
  sqlite(join(dir, 'a.db'), 'PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT);');
  sqlite(join(dir, 'b.db'), 'PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT);');
  const config = join(dir, `hadb-${extra.length}.yml`);
  await writeFile(
    config,
    [
      'dbs:',
      `  - path: ${join(dir, 'a.db')}`,
      '    sync-interval: 50ms',
      `    replicas: [{ url: "file://${join(dir, 'bucket-a')}" }]`,
      `  - path: ${join(dir, 'b.db')}`,
      '    sync-interval: 50ms',
      `    replicas: [{ url: "file://${join(dir, 'bucket-b')}" }]`,
      ...extra,
      '',
    ].join('\n'),
  );
  return config;
}

describe('hadb replicate --admin', () => {
  it('serves one admin server over every replica group: /metrics and /status with the token, 401 without', async () => {
    const config = await twoGroupConfig(['admin:', '  node: sidecar-1', '  max-lag: 30s']);
    const child = spawnHadb(['replicate', '-c', config, '--admin', '127.0.0.1:0'], { HADB_ADMIN_TOKEN: TOKEN });
    const done = finished(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until(() => out.includes('ready: replicating 2 databases'), { timeoutMs: 60_000, what: 'daemon output' });
      const url = /^admin: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(out)?.[1];
      expect(url, out).toBeDefined();
      sqlite(join(dir, 'a.db'), "INSERT INTO t (v) VALUES ('one');");
      await until(() => /^a\.db: shipped seq/m.test(out), { timeoutMs: 30_000, what: 'daemon output' });

      const auth = { authorization: `Bearer ${TOKEN}` };
      expect((await fetch(`${url}metrics`)).status).toBe(401);
      expect(
        (await fetch(`${url}metrics`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status,
      ).toBe(401);
      const metrics = await (await fetch(`${url}metrics`, { headers: auth })).text();
      const nodeA = `sidecar-1 (file://${join(dir, 'bucket-a')})`;
      const nodeB = `sidecar-1 (file://${join(dir, 'bucket-b')})`;
      expect(metrics).toContain(`hadb_role{db="a.db",node="${nodeA}",role="leader"} 1`);
      expect(metrics).toContain(`hadb_role{db="b.db",node="${nodeB}",role="leader"} 1`);
      expect(metrics).toMatch(
        new RegExp(
          `^hadb_shipped_segments_total\\{db="a\\.db",node="${nodeA.replace(/[.()/]/g, '\\$&')}"\\} [2-9]`,
          'm',
        ),
      );

      const status = (await (await fetch(`${url}status`, { headers: auth })).json()) as {
        ready: boolean;
        maxLagSeconds: number;
        nodes: { nodeId: string; databases: { db: string; role: string }[] }[];
      };
      expect(status.maxLagSeconds).toBe(30);
      expect(status.nodes.map((n) => [n.nodeId, n.databases.map((d) => `${d.db}:${d.role}`)])).toEqual([
        [nodeA, ['a.db:leader']],
        [nodeB, ['b.db:leader']],
      ]);
      await until(async () => (await fetch(`${url}ready`)).status === 200, { timeoutMs: 30_000, what: 'ready' });
      expect(JSON.stringify(status)).not.toContain(TOKEN);
    } finally {
      child.kill('SIGTERM');
    }
    const result = await done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toContain(TOKEN);
  }, 120_000);

  it('refuses a non-loopback address without a token and a short token (exit 2); explain masks the token', async () => {
    const config = await twoGroupConfig();
    const open = await hadb(['replicate', '-c', config, '--admin', '0.0.0.0:0']);
    expect(open.code).toBe(2);
    expect(open.stderr).toContain('non-loopback');
    const short = await hadb(['replicate', '-c', config, '--admin', '127.0.0.1:0'], { HADB_ADMIN_TOKEN: 'short' });
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('token must be a string of at least 16 characters');
    expect(short.stderr).not.toContain('short"');
    const bad = await hadb(['replicate', '-c', config, '--admin', 'nohost:port']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--admin must be host:port');

    const withAdmin = await twoGroupConfig([
      'admin:',
      '  listen: 127.0.0.1:9464',
      '  token: ${HADB_ADMIN_TOKEN}',
      '  webhooks: [{ url: "http://127.0.0.1:9/hook", secret: "whsec-0123456789abcdef" }]',
    ]);
    const explained = await hadb(['explain', '-c', withAdmin, '--json'], { HADB_ADMIN_TOKEN: TOKEN });
    expect(explained.code, explained.stderr).toBe(0);
    const admin = (JSON.parse(explained.stdout) as { admin: Record<string, unknown> }).admin;
    expect(admin).toMatchObject({ listen: '127.0.0.1:9464', from: 'config', token: '****' });
    expect(explained.stdout).not.toContain(TOKEN);
    expect(explained.stdout).not.toContain('whsec-0123456789abcdef');
  }, 120_000);

  it('parses host:port, [ipv6]:port, :port and a bare port', () => {
    expect(parseListen('0.0.0.0:9464', 'x')).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(parseListen('[::1]:80', 'x')).toEqual({ host: '::1', port: 80 });
    expect(parseListen(':9464', 'x')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseListen('9464', 'x')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(() => parseListen('host:70000', 'x')).toThrow(/host:port/);
    expect(() => parseListen('http://x:1', 'x')).toThrow(/host:port/);
  });
});
