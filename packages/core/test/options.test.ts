import { describe, expect, it } from 'vitest';
import { StorageLeaseStore } from '@hadb/lease';
import { MemLeaseStore } from '@hadb/lease-mem';
import { S3_LEASE_TIMING } from '@hadb/lease-s3';
import { MemStorageBackend } from '@hadb/storage-mem';
import { LEASE_DEFAULTS, leaseTimingDefaults, resolveLeaseTiming } from '../src/options.js';

describe('lease timing options', () => {
  it('defaults to TTL 5 s, renew 2 s, poll 1 s, margin 1 s (Rust defaults plus the margin)', () => {
    const t = resolveLeaseTiming({});
    expect(t).toMatchObject({
      ttlMs: 5000,
      ttlSecs: 5,
      renewIntervalMs: 2000,
      pollIntervalMs: 1000,
      skewMarginMs: 1000,
      requestTimeoutMs: 2000,
    });
    expect(LEASE_DEFAULTS.skewMarginMs).toBe(1000);
  });

  it('rounds the TTL written to the record up to whole seconds', () => {
    expect(resolveLeaseTiming({ ttlMs: 1500, renewIntervalMs: 500, skewMarginMs: 300 }).ttlSecs).toBe(2);
  });

  it('rejects timings that cannot be safe or live', () => {
    expect(() => resolveLeaseTiming({ ttlMs: 0 })).toThrow(/ttlMs/);
    expect(() => resolveLeaseTiming({ skewMarginMs: 2500 })).toThrow(/skewMarginMs/);
    expect(() => resolveLeaseTiming({ skewMarginMs: -1 })).toThrow(/skewMarginMs/);
    expect(() => resolveLeaseTiming({ renewIntervalMs: 4000 })).toThrow(/renewIntervalMs/);
    expect(() => resolveLeaseTiming({ pollIntervalMs: Number.NaN })).toThrow(/pollIntervalMs/);
  });
});

describe('store-recommended lease timing', () => {
  const objectStoreLease = async (recommendedTiming?: typeof S3_LEASE_TIMING): Promise<StorageLeaseStore> =>
    new StorageLeaseStore(await MemStorageBackend.open(), { name: 'priced', recommendedTiming });

  it('takes every value the user did not set from the store’s recommendation', async () => {
    const store = await objectStoreLease(S3_LEASE_TIMING);
    expect(resolveLeaseTiming({ store })).toMatchObject({
      ttlMs: 20_000,
      ttlSecs: 20,
      renewIntervalMs: 8000,
      pollIntervalMs: 6000,
      skewMarginMs: 4000,
      requestTimeoutMs: 8000,
      clockRateTolerance: 0.2,
    });
    expect(leaseTimingDefaults(store)).toEqual(S3_LEASE_TIMING);
  });

  it('explicit options always win over the recommendation', async () => {
    const store = await objectStoreLease(S3_LEASE_TIMING);
    expect(resolveLeaseTiming({ store, pollIntervalMs: 1000, requestTimeoutMs: 3000 })).toMatchObject({
      ttlMs: 20_000,
      renewIntervalMs: 8000,
      pollIntervalMs: 1000,
      skewMarginMs: 4000,
      requestTimeoutMs: 3000,
    });
    const all = { ttlMs: 5000, renewIntervalMs: 2000, pollIntervalMs: 1000, skewMarginMs: 1000 };
    expect(resolveLeaseTiming({ store, ...all })).toMatchObject(all);
  });

  it('keeps the validation rules and names the recommended values a mixed timing took', async () => {
    const store = await objectStoreLease(S3_LEASE_TIMING);
    // TTL 5 s with the store's renew 8 s and margin 4 s cannot be safe.
    expect(() => resolveLeaseTiming({ store, ttlMs: 5000 })).toThrow(
      /skewMarginMs must be >= 0 and below ttlMs \/ 2 \(renewIntervalMs 8000, pollIntervalMs 6000, skewMarginMs 4000 from the priced store's recommended timing/,
    );
    expect(() => resolveLeaseTiming({ store, ttlMs: 10_000 })).toThrow(/renewIntervalMs must be below/);
    expect(() => resolveLeaseTiming({ store, renewIntervalMs: 16_000 })).toThrow(/renewIntervalMs must be below/);
  });

  it('stores without a recommendation (mem, NATS, etcd) keep the 5 s defaults', async () => {
    const mem = await MemLeaseStore.open();
    try {
      expect(mem.capabilities.recommendedTiming).toBeUndefined();
      expect(leaseTimingDefaults(mem)).toEqual({ ...LEASE_DEFAULTS });
      expect(resolveLeaseTiming({ store: mem })).toEqual(resolveLeaseTiming({}));
      const plain = await objectStoreLease();
      expect(resolveLeaseTiming({ store: plain })).toEqual(resolveLeaseTiming({}));
    } finally {
      await mem.close();
    }
  });

  it('the S3 recommendation passes validation with one lost renewal of slack and the 20 % rate tolerance', () => {
    const t = resolveLeaseTiming(S3_LEASE_TIMING);
    // One lost renewal never fences a healthy leader: two renew intervals fit before its deadline.
    expect(t.ttlMs - t.skewMarginMs).toBeGreaterThanOrEqual(2 * t.renewIntervalMs);
    expect(t.clockRateTolerance).toBe(resolveLeaseTiming({}).clockRateTolerance);
    // Idle leader + follower at S3 Standard prices: a PUT and the clock-rate read-back GET per
    // renewal, a GET per follower poll, a GET per node every 4 TTLs (its instance claim).
    const month = 30 * 24 * 3600 * 1000;
    const puts = month / t.renewIntervalMs;
    const gets = month / t.renewIntervalMs + month / t.pollIntervalMs + (2 * month) / (4 * t.ttlMs);
    expect(puts * 0.005e-3 + gets * 0.0004e-3).toBeLessThanOrEqual(2);
  });
});
