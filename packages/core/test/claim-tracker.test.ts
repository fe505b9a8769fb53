import { describe, expect, it } from 'vitest';
import type { LeaseData } from '@hadb/lease';
import { ClaimTracker } from '../src/follower-monitor.js';
import { resolveLeaseTiming } from '../src/options.js';

const timing = resolveLeaseTiming({});
const held: LeaseData = {
  instanceId: 'a',
  address: 'x',
  claimedAt: 1,
  ttlSecs: 5,
  sessionId: 's-a',
  sleeping: false,
  epoch: 3,
};

describe('ClaimTracker', () => {
  it('waits ttl + margin from the first read of an etag, and restarts on a new etag', () => {
    const t = new ClaimTracker(timing, new Set());
    expect(t.observe({ etag: '1', data: held, at: 100 }, 100)).toBe(6000);
    expect(t.observe({ etag: '1', data: held, at: 4100 }, 4100)).toBe(2000);
    expect(t.observe({ etag: '2', data: held, at: 5000 }, 5000)).toBe(6000);
    expect(t.observe({ etag: '2', data: held, at: 11_000 }, 11_000)).toBe(0);
  });

  it('honours a longer TTL written by the holder', () => {
    const t = new ClaimTracker(timing, new Set());
    expect(t.observe({ etag: '1', data: { ...held, ttlSecs: 30 }, at: 0 }, 0)).toBe(31_000);
  });

  it('takes released records, own sessions and a never-held absent record at once', () => {
    expect(new ClaimTracker(timing, new Set()).observe(null, 0)).toBe(0);
    expect(new ClaimTracker(timing, new Set()).observe({ etag: '1', data: { ...held, ttlSecs: 0 }, at: 0 }, 0)).toBe(0);
    expect(new ClaimTracker(timing, new Set(['s-a'])).observe({ etag: '1', data: held, at: 0 }, 0)).toBe(0);
  });

  it('honours a sleeping record like a held one: not before, but after max(ttl, record ttl) + margin', () => {
    const t = new ClaimTracker(timing, new Set());
    expect(t.observe({ etag: '1', data: { ...held, sleeping: true, ttlSecs: 30 }, at: 0 }, 0)).toBe(31_000);
    expect(t.observe({ etag: '1', data: { ...held, sleeping: true, ttlSecs: 30 }, at: 31_000 }, 31_000)).toBe(0);
  });

  it('treats a record that vanished after being seen held as a new version (its holder may still be writing)', () => {
    const t = new ClaimTracker(timing, new Set());
    t.observe({ etag: '1', data: held, at: 0 }, 0);
    expect(t.observe(null, 1000)).toBe(6000);
    expect(t.observe(null, 5000)).toBe(2000);
    expect(t.observe(null, 7000)).toBe(0);
  });

  it('an unparseable record is held by a stranger', () => {
    const t = new ClaimTracker(timing, new Set());
    expect(t.observe({ etag: '9', data: undefined, at: 0 }, 0)).toBe(6000);
  });
});
