import { afterEach, describe, expect, it } from 'vitest';
import {
  coordinatorSource,
  startAdminServer,
  verifyWebhookSignature,
  type AdminEvent,
  type DatabaseStatus,
} from '../src/index.js';
import { DB, TestCluster } from './support/cluster.js';
import { receiver, until } from './support/tools.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function cluster(names: string[]) {
  const c = new TestCluster();
  cleanups.push(() => c.close());
  return { c, nodes: await c.start(names) };
}

async function db(source: { status(): Promise<{ databases: readonly DatabaseStatus[] }> }): Promise<DatabaseStatus> {
  return (await source.status()).databases[0]!;
}

describe('coordinatorSource over a real @hadb/core cluster', () => {
  it('reports role, epoch, lease validity, position, cluster members and engine counters', async () => {
    const { nodes } = await cluster(['a', 'b']);
    const [a, b] = nodes as [NonNullable<(typeof nodes)[0]>, NonNullable<(typeof nodes)[0]>];
    await a.engine.write(DB, 500);
    await until(async () => (await db(b.source)).position === 2n, 5000, 'b applied');
    const la = await db(a.source);
    expect(la).toMatchObject({
      db: DB,
      role: 'leader',
      epoch: 1,
      leaseValid: true,
      leaseHolder: 'a',
      shippedBytes: 500,
      shippedSegments: 2,
      breaker: 'closed',
    });
    expect(la.lastShipAtMs).toBeGreaterThan(Date.now() - 5000);
    const lb = await db(b.source);
    expect(lb).toMatchObject({
      role: 'follower',
      epoch: 1,
      leaseHolder: 'a',
      leaderAddress: 'http://a.test:8080',
      lagSeconds: 0,
      lagSource: 'commit-time',
      appliedSegments: 2,
      appliedBytes: 500,
    });
    expect(lb.leaseValid).toBeUndefined();
    expect(lb.cluster).toEqual(
      expect.arrayContaining([
        { nodeId: 'b', address: 'http://b.test:8080', role: 'follower' },
        { nodeId: 'a', address: 'http://a.test:8080', role: 'leader' },
      ]),
    );
  });

  it('lag is now minus the commit time of the newest applied change while the follower is behind', async () => {
    const { nodes } = await cluster(['a', 'b']);
    const [a, b] = nodes as [NonNullable<(typeof nodes)[0]>, NonNullable<(typeof nodes)[0]>];
    await a.engine.write(DB);
    await until(async () => (await db(b.source)).position === 2n, 5000, 'b applied');
    const appliedCommit = b.engine.stats(DB)!.lastAppliedCommitMs!;
    b.engine.holdApplies = true;
    await a.engine.write(DB); // b sees it but does not apply it
    await until(() => b.coordinator.progress(DB)?.caughtUp === false, 5000, 'b behind');
    await new Promise((r) => setTimeout(r, 400));
    const before = Date.now();
    const lb = await db(b.source);
    expect(lb.lagSource).toBe('commit-time');
    expect(lb.lagSeconds!).toBeGreaterThanOrEqual((before - appliedCommit) / 1000 - 0.01);
    expect(lb.lagSeconds!).toBeLessThan((Date.now() - appliedCommit) / 1000 + 0.01);
    expect(lb.lagSeconds!).toBeGreaterThan(0.35);

    const s = await startAdminServer({ port: 0, sources: [a.source, b.source], maxLagSeconds: 0.3 });
    cleanups.push(() => s.close());
    expect((await fetch(`${s.url}ready`)).status).toBe(503);
    b.engine.holdApplies = false;
    await until(async () => (await fetch(`${s.url}ready`)).status === 200, 5000, 'ready after catching up');
    expect((await db(b.source)).lagSeconds).toBe(0);
  });

  it('without engine statistics, lag is estimated from the last time the follower was seen caught up', async () => {
    const { c, nodes } = await cluster(['a', 'b']);
    const [a, b] = nodes as [NonNullable<(typeof nodes)[0]>, NonNullable<(typeof nodes)[0]>];
    const bare = coordinatorSource(b.coordinator, { nodeId: 'b' }); // no replication hook, no registry
    cleanups.push(async () => bare.close());
    expect(await db(bare)).toMatchObject({
      role: 'follower',
      lagSeconds: 0,
      lagSource: 'estimate',
      leaderAddress: 'http://a.test:8080',
    });
    expect((await db(bare)).shippedBytes).toBeUndefined();
    b.engine.holdApplies = true;
    await a.engine.write(DB);
    await until(() => b.coordinator.progress(DB)?.caughtUp === false, 5000, 'b behind');
    await new Promise((r) => setTimeout(r, 300));
    const lag = (await db(bare)).lagSeconds!;
    expect(lag).toBeGreaterThan(0.25);
    expect((await db(bare)).lagSource).toBe('estimate');
    // metrics(): core's text, parsed
    const families = await bare.metrics!();
    expect(families.find((f) => f.name === 'hadb_follower_pulls_no_new_data_total')?.samples[0]?.value).toBeGreaterThan(
      0,
    );
    expect(c.nodes).toHaveLength(2);
  });

  it('forwards promoted/demoted/fenced role events and reported engine events to webhooks, signed', async () => {
    const { c, nodes } = await cluster(['a', 'b']);
    const [a, b] = nodes as [NonNullable<(typeof nodes)[0]>, NonNullable<(typeof nodes)[0]>];
    const r = await receiver();
    cleanups.push(() => r.close());
    const seen: AdminEvent[] = [];
    const off = a.source.subscribe!((e) => seen.push(e));
    cleanups.push(async () => off());
    const s = await startAdminServer({
      port: 0,
      sources: [a.source, b.source],
      webhooks: { targets: [{ url: r.url, secret: 'shh' }], baseDelayMs: 5 },
    });
    cleanups.push(() => s.close());
    a.source.report({ type: 'ship_failed', db: DB, error: 'HADB_S3_UNAVAILABLE: 503 after 6 attempts', attempts: 6 });
    expect(await a.coordinator.handoff(DB)).toBe(true); // a hands over: demoted on a, promoted on b
    await until(() => c.nodes[1]!.coordinator.role(DB) === 'leader', 10_000, 'b promoted');
    await until(() => r.received.length >= 3, 5000, 'three webhooks');
    const bodies = r.received.map((x) => {
      expect(verifyWebhookSignature('shh', x.body, x.headers['x-hadb-signature'] as string)).toBe(true);
      return JSON.parse(x.body) as { event: string; context?: { node?: string } };
    });
    expect(bodies.map((x) => `${x.event}@${x.context?.node}`)).toEqual(['ship_failed@a', 'demoted@a', 'promoted@b']);
    expect(seen.map((e) => e.type)).toEqual(['ship_failed', 'demoted']);
    const status = (await (await fetch(`${s.url}status`)).json()) as {
      events: Array<{ type: string; nodeId: string }>;
    };
    expect(status.events.map((e) => `${e.type}@${e.nodeId}`)).toEqual(['promoted@b', 'demoted@a', 'ship_failed@a']);
    expect(
      (await (await fetch(`${s.url}metrics`)).text()).match(
        /^hadb_webhook_deliveries_total\{result="sent"\} (\d+)$/m,
      )?.[1],
    ).toBe('3');
  });

  it('a heartbeat on the admin server pings while every database synced and stops while the leader has not synced within maxSyncAgeMs', async () => {
    const { nodes } = await cluster(['a', 'b']);
    const [a, b] = nodes as [NonNullable<(typeof nodes)[0]>, NonNullable<(typeof nodes)[0]>];
    const r = await receiver(() => 200);
    cleanups.push(() => r.close());
    await a.engine.write(DB);
    const s = await startAdminServer({
      port: 0,
      sources: [a.source, b.source],
      heartbeat: { url: r.url, intervalMs: 300, maxSyncAgeMs: 1500 },
    });
    cleanups.push(() => s.close());
    await until(() => r.received.length >= 2, 5000, 'pings while synced');
    // the leader stops shipping (no writes) — its last sync ages; the follower keeps polling
    await until(
      () => s.handler.heartbeat!.stats().skipped > 0,
      5000,
      'skipped once the leader has not synced for 1.5 s',
    );
    expect(s.handler.heartbeat!.stats().lastSkipReason).toMatch(/^a\/orders: last synced \d+ ms ago$/);
    const pings = r.received.length;
    await new Promise((res) => setTimeout(res, 700));
    expect(r.received.length).toBe(pings);
    await a.engine.write(DB); // a sync: pings resume
    await until(() => r.received.length > pings, 5000, 'pings resume');
  });
});
