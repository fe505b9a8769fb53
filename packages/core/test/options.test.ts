import { describe, expect, it } from 'vitest';
import { LEASE_DEFAULTS, resolveLeaseTiming } from '../src/options.js';

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
