import { afterEach, describe, expect, it } from 'vitest';
import {
  Heartbeat,
  SIGNATURE_HEADER,
  WebhookNotifier,
  signWebhookBody,
  verifyWebhookSignature,
  type AdminSource,
  type NodeStatus,
} from '../src/index.js';
import { receiver, until } from './support/tools.js';

const SECRET = 'whsec-test-secret';
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function recv(status?: Parameters<typeof receiver>[0]) {
  const r = await receiver(status);
  cleanups.push(() => r.close());
  return r;
}

describe('webhook signatures', () => {
  it('have the Rust hadb-io shape: sha256=<64 hex>, HMAC-SHA256 of the body', () => {
    const sig = signWebhookBody('secret', 'test body');
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
    // RFC 4231-style check against an independent value: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog")
    expect(signWebhookBody('key', 'The quick brown fox jumps over the lazy dog')).toBe(
      'sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8',
    );
    expect(verifyWebhookSignature('secret', 'test body', sig)).toBe(true);
    expect(verifyWebhookSignature('secret', 'test body!', sig)).toBe(false);
    expect(verifyWebhookSignature('other', 'test body', sig)).toBe(false);
    expect(verifyWebhookSignature('secret', 'test body', sig.slice(0, -1))).toBe(false);
    expect(verifyWebhookSignature('secret', 'test body', undefined)).toBe(false);
  });
});

describe('WebhookNotifier', () => {
  it('POSTs a signed JSON body in hadb-io field order to subscribed targets only', async () => {
    const r = await recv();
    const unsigned = await recv();
    const n = new WebhookNotifier({
      targets: [
        { url: r.url, secret: SECRET },
        { url: unsigned.url, events: ['corruption_detected'] },
      ],
      version: '9.9.9',
    });
    cleanups.push(() => n.close());
    n.notify({
      type: 'ship_failed',
      db: 'orders',
      nodeId: 'a',
      error: 'HADB_S3_UNAVAILABLE: 503',
      attempts: 6,
      context: { seq: 12 },
    });
    await n.flush();
    expect(r.received).toHaveLength(1);
    const got = r.received[0]!;
    expect(got.method).toBe('POST');
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['user-agent']).toBe('hadb-admin/9.9.9');
    expect(verifyWebhookSignature(SECRET, got.body, got.headers[SIGNATURE_HEADER.toLowerCase()] as string)).toBe(true);
    const body = JSON.parse(got.body) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['event', 'database', 'error', 'attempts', 'timestamp', 'version', 'context']);
    expect(body).toMatchObject({
      event: 'ship_failed',
      database: 'orders',
      error: 'HADB_S3_UNAVAILABLE: 503',
      attempts: 6,
      version: '9.9.9',
      context: { seq: 12, node: 'a' },
    });
    expect(new Date(body.timestamp as string).toISOString()).toBe(body.timestamp);
    expect(unsigned.received).toHaveLength(0); // not subscribed to ship_failed
    expect(got.body).not.toContain(SECRET);
    expect(n.stats()).toEqual({ sent: 1, failed: 0, dropped: 0, retries: 0, queued: 0 });
  });

  it('retries 5xx and network failures with backoff, gives up on 4xx', async () => {
    const flaky = await recv((_r, n) => (n <= 2 ? 503 : 200));
    const n = new WebhookNotifier({ targets: [{ url: flaky.url }], baseDelayMs: 5, maxDelayMs: 20 });
    cleanups.push(() => n.close());
    n.notify({ type: 'fenced', db: 'orders' });
    await n.flush();
    expect(flaky.received).toHaveLength(3);
    expect(n.stats()).toMatchObject({ sent: 1, retries: 2, failed: 0 });

    const refusing = await recv(() => 400);
    const n2 = new WebhookNotifier({ targets: [{ url: refusing.url }], baseDelayMs: 5 });
    cleanups.push(() => n2.close());
    n2.notify({ type: 'fenced', db: 'orders' });
    await n2.flush();
    expect(refusing.received).toHaveLength(1);
    expect(n2.stats()).toMatchObject({ sent: 0, failed: 1, retries: 0 });

    const gone = await recv();
    await gone.close(); // nothing listens on this port any more
    const n3 = new WebhookNotifier({ targets: [{ url: gone.url }], baseDelayMs: 1, maxDelayMs: 2, maxRetries: 2 });
    cleanups.push(() => n3.close());
    n3.notify({ type: 'fenced', db: 'orders' });
    await n3.flush();
    expect(n3.stats()).toMatchObject({ sent: 0, failed: 1, retries: 2 });
  });

  it('notify() never waits for the network; a full queue drops and counts', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = await recv();
    slow.server.removeAllListeners('request');
    slow.server.on('request', (req, res) => {
      req.resume();
      void gate.then(() => res.writeHead(204).end());
    });
    const n = new WebhookNotifier({ targets: [{ url: slow.url }], queueSize: 2 });
    cleanups.push(() => n.close());
    const started = performance.now();
    for (let i = 0; i < 10; i++) n.notify({ type: 'ship_failed', db: `db${i}` });
    expect(performance.now() - started).toBeLessThan(50);
    // one in flight, two queued, seven dropped
    expect(n.stats()).toMatchObject({ dropped: 7, queued: 2 });
    release();
    await n.flush();
    expect(n.stats()).toMatchObject({ sent: 3, dropped: 7, queued: 0 });
  });

  it('close() aborts delivery and counts what was queued as dropped', async () => {
    const never = await recv();
    never.server.removeAllListeners('request');
    let arrived = 0;
    never.server.on('request', (req) => {
      arrived++;
      req.resume();
    });
    const n = new WebhookNotifier({ targets: [{ url: never.url }] });
    n.notify({ type: 'promoted', db: 'a' });
    n.notify({ type: 'promoted', db: 'b' });
    await until(() => arrived === 1, 2000, 'first delivery in flight');
    await n.close();
    await n.close();
    expect(n.stats()).toMatchObject({ sent: 0, dropped: 1, queued: 0 });
    n.notify({ type: 'promoted', db: 'c' });
    expect(n.stats().queued).toBe(0);
  });
});

describe('Heartbeat', () => {
  function statusOf(syncedAgoMs: Array<number | null>): () => Promise<NodeStatus[]> {
    return async () => [
      {
        nodeId: 'a',
        databases: syncedAgoMs.map((ago, i) => ({
          db: `db${i}`,
          role: 'leader' as const,
          syncedAtMs: ago === null ? null : Date.now() - ago,
        })),
      },
    ];
  }

  it('pings only while every database synced within the interval', async () => {
    const r = await recv(() => 200);
    let ages: Array<number | null> = [100, 200];
    const hb = new Heartbeat({ url: `${r.url}?key=abc`, intervalMs: 1000 }, () => statusOf(ages)());
    cleanups.push(() => hb.close());
    expect(await hb.beat()).toBe(true);
    expect(r.received).toMatchObject([{ method: 'GET', path: '/hook?key=abc' }]);
    ages = [100, 5000];
    expect(await hb.beat()).toBe(false);
    expect(hb.stats().lastSkipReason).toMatch(/^a\/db1: last synced \d+ ms ago$/);
    ages = [null];
    expect(await hb.beat()).toBe(false);
    expect(hb.stats().lastSkipReason).toBe('a/db0: never synced');
    ages = [];
    expect(await hb.beat()).toBe(false);
    expect(r.received).toHaveLength(1);
    expect(hb.stats()).toMatchObject({ sent: 1, skipped: 3, failed: 0 });
  });

  it('runs on its interval and stops on close', async () => {
    const r = await recv(() => 200);
    const source: AdminSource = {
      nodeId: 'a',
      status: async () => ({ nodeId: 'a', databases: [{ db: 'x', role: 'follower', syncedAtMs: Date.now() }] }),
    };
    const hb = new Heartbeat({ url: r.url, intervalMs: 50 }, async () => [await source.status()]);
    hb.start();
    await until(() => r.received.length >= 3, 3000, 'three pings');
    await hb.close();
    const count = r.received.length;
    await new Promise((res) => setTimeout(res, 150));
    expect(r.received.length).toBe(count);
  });
});

describe('delivery timeouts', () => {
  it('a target that never answers times out (HADB_ADMIN_TIMEOUT) and is retried, then counted failed', async () => {
    const silent = await recv();
    let arrived = 0;
    silent.server.removeAllListeners('request');
    silent.server.on('request', (req) => {
      arrived++;
      req.resume();
    });
    const n = new WebhookNotifier({
      targets: [{ url: silent.url }],
      timeoutMs: 50,
      maxRetries: 1,
      baseDelayMs: 1,
      maxDelayMs: 2,
    });
    cleanups.push(() => n.close());
    n.notify({ type: 'ship_failed', db: 'orders' });
    await n.flush();
    expect(arrived).toBe(2);
    expect(n.stats()).toMatchObject({ sent: 0, failed: 1, retries: 1 });
  });
});
