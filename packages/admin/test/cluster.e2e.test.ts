import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, verifyWebhookSignature, SIGNATURE_HEADER, type AdminServer } from '../src/index.js';
import { DB, TestCluster, type TestNode } from './support/cluster.js';
import { PROMETHEUS_BIN, startPrometheus, type PrometheusServer } from './support/prometheus.js';
import { receiver, requireBinary, until } from './support/tools.js';

const CHROMIUM_BIN = '/usr/bin/chromium';
const hasPrometheus = requireBinary(PROMETHEUS_BIN, 'prometheus');
const hasChromium = requireBinary(CHROMIUM_BIN, 'chromium');
const TOKEN = 'e2e-admin-token-0123456789';
const SECRET = 'e2e-webhook-secret';
const SCREENSHOT = fileURLToPath(new URL('../docs/status-page.png', import.meta.url));

/**
 * One in-process cluster of three real Coordinators (lease-mem, storage-mem) with a writer on the
 * leader; per-node admin servers scraped by a real Prometheus; one admin server for the whole
 * cluster with the status page (opened in headless Chromium) and signed webhooks to a receiver.
 * The leader's process freezes (its lease requests hang), a follower takes over.
 */
describe.skipIf(!hasPrometheus && !hasChromium)('a three-node cluster seen through the admin server', () => {
  const cluster = new TestCluster();
  let nodes: TestNode[] = [];
  const perNode: AdminServer[] = [];
  let overview: AdminServer;
  let hooks: Awaited<ReturnType<typeof receiver>>;
  let prometheus: PrometheusServer | undefined;
  let writing = true;
  let writer: Promise<void>;

  beforeAll(async () => {
    nodes = await cluster.start(['a', 'b', 'c']);
    writer = (async () => {
      for (let i = 0; writing; i++) {
        const leader = cluster.leaderOf();
        await leader?.engine.write(DB, 2048 + (i % 7) * 1024).catch(() => {});
        await new Promise((r) => setTimeout(r, 120));
      }
    })();
    for (const n of nodes)
      perNode.push(await startAdminServer({ port: 0, token: TOKEN, sources: [n.source], sampleIntervalMs: 500 }));
    hooks = await receiver(() => 204);
    overview = await startAdminServer({
      port: 0,
      token: TOKEN,
      title: 'hadb · orders cluster',
      sources: nodes.map((n) => n.source),
      sampleIntervalMs: 250,
      webhooks: { targets: [{ url: hooks.url, secret: SECRET }], baseDelayMs: 20 },
    });
  });

  afterAll(async () => {
    writing = false;
    await writer;
    await prometheus?.stop();
    await overview?.close();
    await Promise.all(perNode.map((s) => s.close()));
    await hooks?.close();
    await cluster.close();
  });

  it.skipIf(!hasPrometheus)(
    "Prometheus scrapes every node and returns the followers' lag series through its HTTP API",
    async () => {
      prometheus = await startPrometheus(
        perNode.map((s) => `127.0.0.1:${s.port}`),
        TOKEN,
      );
      const p = prometheus;
      await until(async () => (await p.query('up{job="hadb"} == 1')).length === 3, 20_000, 'three targets up');
      let lag: Awaited<ReturnType<PrometheusServer['query']>> = [];
      await until(
        async () => (lag = await p.query(`hadb_lag_seconds{db="${DB}"}`)).length === 2,
        20_000,
        'lag series of b and c',
      );
      expect(lag.map((r) => r.metric.node).sort()).toEqual(['b', 'c']);
      for (const r of lag) {
        expect(r.metric).toMatchObject({ __name__: 'hadb_lag_seconds', db: DB, job: 'hadb' });
        expect(Number(r.value[1])).toBeGreaterThanOrEqual(0);
        expect(Number(r.value[1])).toBeLessThan(5);
      }
      // c's applies stall: its lag, as Prometheus sees it, grows past a second; then it catches up
      nodes[2]!.engine.holdApplies = true;
      await until(
        async () => (await p.query(`hadb_lag_seconds{node="c"} > 1`)).length === 1,
        20_000,
        'c lagging in Prometheus',
      );
      nodes[2]!.engine.holdApplies = false;
      await until(
        async () => (await p.query(`hadb_lag_seconds{node="c"} == 0`)).length === 1,
        20_000,
        'c caught up in Prometheus',
      );
      const leaders = await p.query(`hadb_is_leader{db="${DB}"} == 1`);
      expect(leaders.map((r) => r.metric.node)).toEqual(['a']);
      const shipped = await p.query(`hadb_shipped_bytes_total{node="a"}`);
      expect(Number(shipped[0]?.value[1])).toBeGreaterThan(0);
      expect((await p.query('hadb_lease_renewals_succeeded_total{node="a"}')).length).toBe(1);
    },
    60_000,
  );

  it.skipIf(!hasChromium)(
    'the status page shows the roles, follows a failover, and webhooks deliver signed promoted/fenced events',
    async () => {
      const profile = await mkdtemp(join(tmpdir(), 'hadb-admin-chromium-'));
      let context: BrowserContext | undefined;
      try {
        context = await chromium.launchPersistentContext(profile, {
          executablePath: CHROMIUM_BIN,
          headless: true,
          args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
          ],
          viewport: { width: 1280, height: 900 },
        });
        const page = context.pages()[0] ?? (await context.newPage());
        const external: string[] = [];
        page.on('request', (r) => {
          if (!r.url().startsWith(overview.url)) external.push(r.url());
        });
        const mark = (what: string) => process.env.HADB_ADMIN_TRACE === '1' && console.log(`[e2e] ${what}`);
        mark('launched');
        await page.goto(`${overview.url}#token=${TOKEN}`);
        const attr = (selector: string, name: string) =>
          page
            .locator(selector)
            .getAttribute(name, { timeout: 1000 })
            .catch(() => null);
        const role = (node: string, db = DB) => ({
          getAttribute: (name: string) => attr(`[data-testid="role-${node}-${db}"]`, name),
        });
        const leaderShown = () => attr(`[data-testid="leader-${DB}"] [data-leader]`, 'data-leader');
        await expect.poll(() => role('a').getAttribute('data-role'), { timeout: 10_000 }).toBe('leader');
        expect(await role('b').getAttribute('data-role')).toBe('follower');
        expect(await role('c').getAttribute('data-role')).toBe('follower');
        expect(await leaderShown()).toBe('a');
        expect(await page.locator('#overall').textContent()).toBe('READY');
        // the token moved from the URL to sessionStorage
        expect(page.url()).not.toContain(TOKEN);
        // a lag excursion on b for the plot: applies stall for 2 s, then catch up
        nodes[1]!.engine.holdApplies = true;
        await page.waitForTimeout(2000);
        nodes[1]!.engine.holdApplies = false;
        await expect
          .poll(() => page.locator('#lag-legend').textContent(), { timeout: 10_000 })
          .toContain('b/orders: 0.00 s');

        mark('roles before failover ok');
        const frozenAt = Date.now();
        nodes[0]!.freeze(); // a's process hangs on the lease store: it fences itself, b or c takes over
        await until(
          () => cluster.nodes.some((n) => n.name !== 'a' && n.coordinator.role(DB) === 'leader'),
          10_000,
          'promotion',
        );
        mark('promoted');
        const next = cluster.nodes.find((n) => n.name !== 'a' && n.coordinator.role(DB) === 'leader')!;
        await expect.poll(() => role(next.name).getAttribute('data-role'), { timeout: 10_000 }).toBe('leader');
        await expect.poll(leaderShown, { timeout: 10_000 }).toBe(next.name);
        expect(await role('a').getAttribute('data-role')).not.toBe('leader');
        mark('page shows new leader');
        await nodes[0]!.coordinator.close(); // then the frozen process is killed
        // a node without any joined database is shown as down
        await expect.poll(() => role('a', 'none').getAttribute('data-role'), { timeout: 10_000 }).toBe('none');
        expect(await role('a').getAttribute('data-role')).toBeNull();
        await expect.poll(() => page.locator('#events').textContent(), { timeout: 10_000 }).toContain('promoted');
        await page.waitForTimeout(2500); // the new leader's shipping shows on the rate plot

        mark('events shown');
        const shot = join(profile, 'status-page.png');
        await page.screenshot({ path: shot, fullPage: true });
        const png = await readFile(shot);
        expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
        expect(png.readUInt32BE(16)).toBe(1280); // IHDR width
        if (process.env.HADB_UPDATE_SCREENSHOTS === '1') await copyFile(shot, SCREENSHOT);
        expect(external).toEqual([]); // the page fetched nothing outside the admin server

        // webhooks: signed, and `promoted` names the new leader
        await until(
          () => hooks.received.some((r) => JSON.parse(r.body).event === 'promoted'),
          10_000,
          'promoted webhook',
        );
        for (const r of hooks.received) {
          expect(verifyWebhookSignature(SECRET, r.body, r.headers[SIGNATURE_HEADER.toLowerCase()] as string)).toBe(
            true,
          );
        }
        const events = hooks.received.map(
          (r) => JSON.parse(r.body) as { event: string; database: string; context: { node: string; epoch: number } },
        );
        const promoted = events.find((e) => e.event === 'promoted')!;
        expect(promoted).toMatchObject({ database: DB, context: { node: next.name, epoch: 2 } });
        expect(events.find((e) => e.event === 'fenced')).toMatchObject({
          database: DB,
          context: { node: 'a', epoch: 1 },
        });
        expect(Date.now() - frozenAt).toBeLessThan(30_000);
      } finally {
        await context?.close();
        await rm(profile, { recursive: true, force: true });
      }
    },
    90_000,
  );
});
