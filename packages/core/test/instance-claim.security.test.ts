import { encodeLeaseData, type LeaseStore } from '@hadb/lease';
import { MemLeaseStore } from '@hadb/lease-mem';
import { silentLogger, systemClock } from '@hadb/io';
import { afterEach, describe, expect, it } from 'vitest';
import { isCoordinatorError } from '../src/errors.js';
import { InstanceClaim, instanceClaimScope } from '../src/instance-claim.js';
import { resolveLeaseTiming } from '../src/options.js';

/**
 * One live process per instance id (issue 12, item 5): a second live process claiming the same
 * id fails with a typed error; a restart after a clean stop starts at once; a restart after a
 * crash (a record nobody answers for) takes over after one check interval + deadlines + margin.
 */
const timing = resolveLeaseTiming({ ttlMs: 600, renewIntervalMs: 150, pollIntervalMs: 50, skewMarginMs: 150 });
let n = 0;
const claims: InstanceClaim[] = [];
afterEach(async () => {
  await Promise.all(claims.splice(0).map((c) => c.release()));
});

function claim(
  store: LeaseStore,
  id = 'node-1',
  db = 'app',
  checkIntervalMs?: number,
  deadIncarnation?: string,
): InstanceClaim {
  const c = new InstanceClaim({
    store,
    checkIntervalMs,
    deadIncarnation,
    db,
    instanceId: id,
    timing,
    clock: systemClock,
    newId: () => `id-${++n}`,
    logger: silentLogger,
  });
  claims.push(c);
  return c;
}

const signal = (): AbortSignal => new AbortController().signal;

describe('instance claim', () => {
  it('refuses a second live process with the same instance id, and leaves the first one’s claim alone', async () => {
    const store = await MemLeaseStore.open();
    await claim(store).acquire(signal());
    const before = await store.read(store.keyFor(instanceClaimScope('app', 'node-1')));
    const err = await claim(store)
      .acquire(signal())
      .catch((e: unknown) => e);
    expect(isCoordinatorError(err, 'HADB_CORE_DUPLICATE_INSTANCE')).toBe(true);
    // The first process is still the holder and keeps renewing.
    const after = await store.read(store.keyFor(instanceClaimScope('app', 'node-1')));
    expect(after!.etag).not.toBe(before!.etag);
    expect(new TextDecoder().decode(after!.data)).toContain('"session_id":"id-1"');
  });

  it('other ids and other databases are independent', async () => {
    const store = await MemLeaseStore.open();
    await claim(store, 'node-1').acquire(signal());
    await claim(store, 'node-2').acquire(signal());
    await claim(store, 'node-1', 'other').acquire(signal());
  });

  it('a clean restart starts at once: release leaves a free record', async () => {
    const store = await MemLeaseStore.open();
    const first = claim(store);
    await first.acquire(signal());
    await first.release();
    const started = performance.now();
    await claim(store).acquire(signal());
    expect(performance.now() - started).toBeLessThan(timing.ttlMs + timing.skewMarginMs);
  });

  it('a restart after a crash takes over the record nobody renews', async () => {
    const store = await MemLeaseStore.open();
    // What a crashed process leaves behind: a held record that nobody renews.
    await store.writeIfNotExists(
      store.keyFor(instanceClaimScope('app', 'node-1')),
      encodeLeaseData({
        instanceId: 'node-1',
        address: '',
        claimedAt: 1,
        ttlSecs: 1,
        sessionId: 'crashed',
        sleeping: false,
      }),
    );
    await claim(store).acquire(signal());
  });

  it('one late renewal of a crashed process (landing after the restart read it) is not a duplicate', async () => {
    const store = await MemLeaseStore.open();
    const key = store.keyFor(instanceClaimScope('app', 'node-1'));
    const record = (nonce: string): Uint8Array =>
      encodeLeaseData({
        instanceId: 'node-1',
        address: '',
        claimedAt: 1,
        ttlSecs: 1,
        sessionId: 'crashed',
        sleeping: false,
        nonce,
      });
    const first = await store.writeIfNotExists(key, record('n1'));
    const acquiring = claim(store).acquire(signal());
    await new Promise((r) => setTimeout(r, 2 * timing.pollIntervalMs));
    if (!first.success) throw new Error('setup');
    await store.writeIfMatch(key, record('n2'), first.etag);
    await acquiring;
  });

  it('two processes starting at once with the same id: exactly one gets it', async () => {
    const store = await MemLeaseStore.open();
    const results = await Promise.allSettled([claim(store).acquire(signal()), claim(store).acquire(signal())]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected');
    expect(isCoordinatorError(rejected?.reason, 'HADB_CORE_DUPLICATE_INSTANCE')).toBe(true);
  });

  it('an idle holder writes nothing: one read per check interval (the cost on an S3 lease store)', async () => {
    const inner = await MemLeaseStore.open();
    const calls = { reads: 0, writes: 0 };
    const store = new Proxy(inner, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (prop === 'read') calls.reads++;
          if (typeof prop === 'string' && prop.startsWith('write')) calls.writes++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    await claim(store, 'node-1', 'app', 200).acquire(signal());
    const before = { ...calls };
    await new Promise((r) => setTimeout(r, 1100));
    expect(calls.writes - before.writes).toBe(0);
    const reads = calls.reads - before.reads;
    expect(reads).toBeGreaterThanOrEqual(1);
    expect(reads).toBeLessThanOrEqual(6);
    // And it still answers: a duplicate is refused within about one check interval.
    const err = await claim(store, 'node-1', 'app', 200)
      .acquire(signal())
      .catch((e: unknown) => e);
    expect(isCoordinatorError(err, 'HADB_CORE_DUPLICATE_INSTANCE')).toBe(true);
  });

  it('a restart that names the dead holder’s incarnation takes its record over at once', async () => {
    const store = await MemLeaseStore.open();
    const key = store.keyFor(instanceClaimScope('app', 'node-1'));
    // A check interval far beyond the test timeout: a challenger would wait about that long for an
    // answer, so only the fast path finishes in time.
    const long = 10 * 60_000;
    const crashed = claim(store, 'node-1', 'app', long);
    await crashed.acquire(signal());
    expect(crashed.incarnation).toMatch(/^id-/);
    // It crashes: its record stays held and nobody answers for it.
    const started = performance.now();
    const restarted = claim(store, 'node-1', 'app', long, crashed.incarnation);
    await restarted.acquire(signal());
    expect(performance.now() - started).toBeLessThan(5_000);
    const record = new TextDecoder().decode((await store.read(key))!.data);
    expect(record).toContain(`"session_id":"${restarted.incarnation}"`);
  });

  it('naming an incarnation that does not hold the record skips nothing: the live holder is challenged and answers', async () => {
    const store = await MemLeaseStore.open();
    const gone = claim(store, 'node-1', 'app', 200);
    await gone.acquire(signal());
    await gone.release();
    await claim(store, 'node-1', 'app', 200).acquire(signal());
    const err = await claim(store, 'node-1', 'app', 200, gone.incarnation)
      .acquire(signal())
      .catch((e: unknown) => e);
    expect(isCoordinatorError(err, 'HADB_CORE_DUPLICATE_INSTANCE')).toBe(true);
  });

  it('a wait for the holder’s answer is cut by the signal: HADB_CORE_ABORTED at once, its challenge left for the holder to answer', async () => {
    const store = await MemLeaseStore.open();
    const long = 10 * 60_000;
    const holder = claim(store, 'node-1', 'app', long);
    await holder.acquire(signal());
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = performance.now();
    const err = await claim(store, 'node-1', 'app', long)
      .acquire(controller.signal)
      .catch((e: unknown) => e);
    expect(isCoordinatorError(err, 'HADB_CORE_ABORTED'), String(err)).toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);
    // The challenge it wrote stays for the holder, which answers it at its next check.
    const record = new TextDecoder().decode(
      (await store.read(store.keyFor(instanceClaimScope('app', 'node-1'))))!.data,
    );
    expect(record).not.toContain(`"session_id":"${holder.incarnation}"`);
  });

  it('long names still map to a valid scope', () => {
    const long = 'd'.repeat(128);
    expect(instanceClaimScope(long, 'i'.repeat(128)).length).toBeLessThanOrEqual(128);
    expect(instanceClaimScope(long, 'a')).not.toBe(instanceClaimScope(long, 'b'));
  });
});
