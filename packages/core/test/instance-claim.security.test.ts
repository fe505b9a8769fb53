import { encodeLeaseData } from '@hadb/lease';
import { MemLeaseStore } from '@hadb/lease-mem';
import { silentLogger, systemClock } from '@hadb/io';
import { afterEach, describe, expect, it } from 'vitest';
import { isCoordinatorError } from '../src/errors.js';
import { InstanceClaim, instanceClaimScope } from '../src/instance-claim.js';
import { resolveLeaseTiming } from '../src/options.js';

/**
 * One live process per instance id (issue 12, item 5): a second live process claiming the same
 * id fails with a typed error; a restart after a clean stop starts at once; a restart after a
 * crash (a record nobody renews) takes over after one TTL + margin.
 */
const timing = resolveLeaseTiming({ ttlMs: 600, renewIntervalMs: 150, pollIntervalMs: 50, skewMarginMs: 150 });
let n = 0;
const claims: InstanceClaim[] = [];
afterEach(async () => {
  await Promise.all(claims.splice(0).map((c) => c.release()));
});

function claim(store: MemLeaseStore, id = 'node-1', db = 'app'): InstanceClaim {
  const c = new InstanceClaim({
    store,
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

  it('long names still map to a valid scope', () => {
    const long = 'd'.repeat(128);
    expect(instanceClaimScope(long, 'i'.repeat(128)).length).toBeLessThanOrEqual(128);
    expect(instanceClaimScope(long, 'a')).not.toBe(instanceClaimScope(long, 'b'));
  });
});
