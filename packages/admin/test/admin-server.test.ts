import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AdminHandler,
  isAdminError,
  parsePrometheus,
  startAdminServer,
  type AdminServer,
  type AdminSource,
  type DatabaseStatus,
} from '../src/index.js';
import { registerHadbMetrics } from '../src/prom-client.js';
import { DB, TestCluster, until } from './support/cluster.js';

const TOKEN = 'test-token-0123456789abcdef';
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(options: Parameters<typeof startAdminServer>[0]): Promise<AdminServer> {
  const s = await startAdminServer(options);
  cleanups.push(() => s.close());
  return s;
}

/** A source whose single database status the test sets. */
function fixedSource(
  nodeId: string,
  db: Partial<DatabaseStatus> & Pick<DatabaseStatus, 'role'>,
): AdminSource & { set(d: Partial<DatabaseStatus>): void } {
  let current: DatabaseStatus = { db: DB, ...db };
  return {
    nodeId,
    async status() {
      return { nodeId, databases: [current] };
    },
    set(d) {
      current = { ...current, ...d };
    },
  };
}

describe('admin server endpoints', () => {
  it('serves /health, /ready, /metrics, /status, /history and the page from a real Coordinator cluster', async () => {
    const cluster = new TestCluster();
    cleanups.push(() => cluster.close());
    const [a, b] = await cluster.start(['a', 'b']);
    await a!.engine.write(DB, 2048);
    const s = await server({ port: 0, sources: [a!.source, b!.source], sampleIntervalMs: 100 });
    await until(async () => (await fetch(`${s.url}ready`)).status === 200, 5000, 'ready');

    expect(await (await fetch(`${s.url}health`)).json()).toEqual({ status: 'ok' });
    const ready = await (await fetch(`${s.url}ready`)).json();
    expect(ready).toEqual({ ready: true, reason: 'ready' });

    const metrics = await fetch(`${s.url}metrics`);
    expect(metrics.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const families = new Map(parsePrometheus(await metrics.text()).map((f) => [f.name, f]));
    // core's families keep their names and gain a node label
    expect(families.get('hadb_lease_claims_succeeded_total')?.samples).toContainEqual({
      labels: { node: 'a' },
      value: 1,
    });
    expect(families.get('hadb_is_leader')?.samples).toEqual(
      expect.arrayContaining([
        { labels: { node: 'a', db: DB }, value: 1 },
        { labels: { node: 'b', db: DB }, value: 0 },
      ]),
    );
    expect(families.get('hadb_epoch')?.samples).toContainEqual({ labels: { node: 'a', db: DB }, value: 1 });
    expect(families.get('hadb_lag_seconds')?.samples).toEqual([{ labels: { node: 'b', db: DB }, value: 0 }]);
    expect(families.get('hadb_shipped_bytes_total')?.samples).toContainEqual({
      labels: { node: 'a', db: DB },
      value: 2048,
    });
    expect(families.get('hadb_seconds_since_last_ship')?.samples[0]?.labels).toEqual({ node: 'a', db: DB });
    expect(families.get('hadb_circuit_breaker_state')?.samples).toContainEqual({
      labels: { node: 'a', db: DB, state: 'closed' },
      value: 1,
    });

    const status = (await (await fetch(`${s.url}status`)).json()) as {
      nodes: Array<{
        nodeId: string;
        databases: Array<{ role: string; cluster: Array<{ nodeId: string; role: string }> }>;
      }>;
    };
    expect(status.nodes.map((n) => [n.nodeId, n.databases[0]?.role])).toEqual([
      ['a', 'leader'],
      ['b', 'follower'],
    ]);
    // b names the leader by its node id, a sees b through the registry
    expect(status.nodes[1]!.databases[0]!.cluster).toEqual(
      expect.arrayContaining([expect.objectContaining({ nodeId: 'a', role: 'leader' })]),
    );
    await until(
      async () => {
        const st = (await (await fetch(`${s.url}status`)).json()) as typeof status;
        return st.nodes[0]!.databases[0]!.cluster.some((m) => m.nodeId === 'b' && m.role === 'follower');
      },
      5000,
      'registry lists b',
    );

    await until(
      async () => {
        const h = (await (await fetch(`${s.url}history`)).json()) as {
          series: Array<{ node: string; points: unknown[] }>;
        };
        return h.series.length === 2 && h.series.every((x) => x.points.length >= 2);
      },
      5000,
      'history samples',
    );

    const page = await fetch(s.url);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    expect(html).toContain('<svg id="lag"');
    // self-contained: no external script, stylesheet or URL (the SVG namespace is not fetched)
    expect(html.replaceAll('"http://www.w3.org/2000/svg"', '')).not.toMatch(
      /<script[^>]+src=|<link[^>]+href=|https?:\/\//,
    );

    expect((await fetch(`${s.url}nope`)).status).toBe(404);
    expect((await fetch(`${s.url}metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('/ready: a leader without a valid lease and a follower beyond the lag bound are not ready', async () => {
    const leader = fixedSource('l', { role: 'leader', leaseValid: true });
    const follower = fixedSource('f', { role: 'follower', lagSeconds: 3 });
    const s = await server({ port: 0, sources: [leader, follower], maxLagSeconds: 5 });
    expect((await fetch(`${s.url}ready`)).status).toBe(200);
    follower.set({ lagSeconds: 7.5 });
    const res = await fetch(`${s.url}ready`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ready: false, reason: 'f/orders: lag 7.5 s above 5 s' });
    follower.set({ lagSeconds: null });
    expect(((await (await fetch(`${s.url}ready`)).json()) as { reason: string }).reason).toBe('f/orders: lag unknown');
    follower.set({ lagSeconds: 0 });
    leader.set({ leaseValid: false });
    expect((await fetch(`${s.url}ready`)).status).toBe(503);
  });

  it('a source that hangs is reported as down after sourceTimeoutMs, not a hung endpoint', async () => {
    const hung: AdminSource = { nodeId: 'h', status: () => new Promise(() => {}) };
    const s = await server({ port: 0, sources: [hung], sourceTimeoutMs: 100 });
    const res = await fetch(`${s.url}status`);
    const body = (await res.json()) as { nodes: Array<{ error: string }> };
    expect(body.nodes[0]!.error).toBe('HADB_ADMIN_TIMEOUT');
    expect(await (await fetch(`${s.url}metrics`)).text()).toContain('hadb_admin_source_up{node="h"} 0');
  });

  it('with a token: /metrics, /status, /history need the bearer token; /health, /ready and / do not; the token never appears', async () => {
    const source = fixedSource('a', { role: 'leader', leaseValid: true });
    const s = await server({ port: 0, sources: [source], token: TOKEN });
    for (const path of ['metrics', 'status', 'history']) {
      const res = await fetch(`${s.url}${path}`);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="hadb-admin"');
      expect(
        (await fetch(`${s.url}${path}`, { headers: { authorization: 'Bearer wrong-token-0123456789abcdef' } })).status,
      ).toBe(401);
      expect((await fetch(`${s.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
      const ok = await fetch(`${s.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).not.toContain(TOKEN);
    }
    expect((await fetch(`${s.url}health`)).status).toBe(200);
    // unauthenticated /ready answers the status code only, without naming databases
    expect(await (await fetch(`${s.url}ready`)).json()).toEqual({ ready: true });
    const page = await (await fetch(s.url)).text();
    expect(page).not.toContain(TOKEN);
  });

  it('refuses a non-loopback bind without a token (typed error) and accepts it with one', async () => {
    const source = fixedSource('a', { role: 'leader' });
    for (const host of ['0.0.0.0', '::', '192.0.2.10']) {
      const err = await startAdminServer({ host, port: 0, sources: [source] }).catch((e: unknown) => e);
      expect(isAdminError(err, 'HADB_ADMIN_INSECURE_BIND')).toBe(true);
    }
    const s = await server({ host: '0.0.0.0', port: 0, sources: [source], token: TOKEN });
    expect((await fetch(`http://127.0.0.1:${s.port}/health`)).status).toBe(200);
    const busy = await startAdminServer({ port: s.port, host: '0.0.0.0', token: TOKEN, sources: [source] }).catch(
      (e: unknown) => e,
    );
    expect(isAdminError(busy, 'HADB_ADMIN_LISTEN_FAILED')).toBe(true);
  });

  it('reports bad options as HADB_ADMIN_INVALID_CONFIG at construction', () => {
    const source = fixedSource('a', { role: 'leader' });
    const bad: Array<Record<string, unknown>> = [
      { sources: [source], token: 'short' },
      { sources: [source], maxLagSeconds: -1 },
      { sources: [source], sampleIntervalMs: 'fast' },
      { sources: [source, source] },
      { sources: [{ nodeId: 'x' }] },
      { sources: [source], basePath: 'admin/' },
      { sources: [source], webhooks: { targets: [{ url: 'ftp://x' }] } },
      { sources: [source], webhooks: { targets: [{ url: 'http://x', events: ['nope'] }] } },
      { sources: [source], heartbeat: { url: 'not a url' } },
    ];
    for (const options of bad) {
      let thrown: unknown;
      try {
        new AdminHandler(options as never);
      } catch (err) {
        thrown = err;
      }
      expect(isAdminError(thrown, 'HADB_ADMIN_INVALID_CONFIG'), JSON.stringify(Object.keys(options))).toBe(true);
    }
  });

  it('mounts inside an existing node:http server under basePath and leaves other routes to the app', async () => {
    const admin = new AdminHandler({
      sources: [fixedSource('a', { role: 'leader', leaseValid: true })],
      basePath: '/admin',
    });
    cleanups.push(() => admin.close());
    const app = createServer((req, res) => {
      if (admin.handle(req, res)) return;
      res.writeHead(200, { 'content-type': 'text/plain' }).end('app');
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => app.close(() => resolve())));
    const base = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    expect(await (await fetch(`${base}/`)).text()).toBe('app');
    expect(await (await fetch(`${base}/admin/health`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${base}/admin`, { redirect: 'manual' })).headers.get('location')).toBe('/admin/');
    expect(await (await fetch(`${base}/admin/metrics`)).text()).toContain('hadb_is_leader{db="orders",node="a"} 1');
  });

  it('close() is idempotent and Symbol.asyncDispose closes too', async () => {
    const s = await startAdminServer({ port: 0, sources: [fixedSource('a', { role: 'leader' })] });
    await s[Symbol.asyncDispose]();
    await s.close();
    await expect(fetch(`${s.url}health`)).rejects.toThrow();
    const closed = await s.handler.collect().catch((e: unknown) => e);
    expect(isAdminError(closed, 'HADB_ADMIN_CLOSED')).toBe(true);
  });
});

describe('prom-client bridge', () => {
  it('registers hadb families into an app registry with one call; values follow the sources', async () => {
    const cluster = new TestCluster();
    cleanups.push(() => cluster.close());
    const [a] = await cluster.start(['a']);
    const registry = new Registry();
    const hadb = await registerHadbMetrics(registry, { sources: [a!.source] });
    cleanups.push(() => hadb.close());
    expect(hadb.names).toEqual(
      expect.arrayContaining(['hadb_lease_claims_attempted_total', 'hadb_lag_seconds', 'hadb_is_leader']),
    );
    const before = parsePrometheus(await registry.metrics());
    expect(before.find((f) => f.name === 'hadb_is_leader')?.samples).toEqual([
      { labels: { node: 'a', db: DB }, value: 1 },
    ]);
    expect(before.find((f) => f.name === 'hadb_shipped_segments_total')?.type).toBe('counter');
    await a!.engine.write(DB, 100);
    await new Promise((r) => setTimeout(r, 300)); // past the per-scrape sharing window
    const after = parsePrometheus(await registry.metrics());
    const shipped = (f: typeof after) => f.find((x) => x.name === 'hadb_shipped_segments_total')!.samples[0]!.value;
    expect(shipped(after)).toBe(shipped(before) + 1);
    expect((await registry.getMetricsAsJSON()).length).toBe(hadb.names.length);
    await hadb.close();
    expect(await registry.metrics()).not.toContain('hadb_');
  });
});
