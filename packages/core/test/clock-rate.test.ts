import { type Clock, silentLogger } from '@hadb/io';
import type { CasResult, LeaseCapabilities, LeaseRecord, LeaseStore, OpOptions } from '@hadb/lease';
import { MemLeaseStore } from '@hadb/lease-mem';
import { ManualClock } from '@hadb/testkit';
import { describe, expect, it } from 'vitest';
import { ClockRateMonitor, compare } from '../src/clock-rate.js';
import { DbLease } from '../src/db-lease.js';
import { TermFence } from '../src/fence.js';
import { CLOCK_RATE_HOLD_OFF_TTLS, runLeaderTerm } from '../src/leader-renewal.js';
import { CoordinatorMetrics } from '../src/metrics.js';
import { resolveLeaseTiming } from '../src/options.js';

/**
 * A real in-memory lease store whose "server" stamps every write with its own clock, as NATS KV
 * does (`serverTimeMs` on read): `serverRate` store ms pass per ms of the node's clock.
 */
class ServerClockStore implements LeaseStore {
  readonly name = 'server-clock';
  readonly capabilities: LeaseCapabilities;
  readonly #inner: MemLeaseStore;
  readonly #stamps = new Map<string, number>();
  readonly #serverNow: () => number;

  readonly #resolutionMs: number;

  constructor(inner: MemLeaseStore, serverNow: () => number, resolutionMs: number) {
    this.#inner = inner;
    this.#serverNow = serverNow;
    this.#resolutionMs = resolutionMs;
    this.capabilities = { ...inner.capabilities, serverTimeResolutionMs: resolutionMs };
  }
  keyFor(scope: string): string {
    return this.#inner.keyFor(scope);
  }
  async read(key: string, options?: OpOptions): Promise<LeaseRecord | null> {
    const record = await this.#inner.read(key, options);
    return record === null ? null : { ...record, serverTimeMs: this.#stamps.get(record.etag) };
  }
  async writeIfNotExists(key: string, data: Uint8Array, options?: OpOptions): Promise<CasResult> {
    return this.#stamp(await this.#inner.writeIfNotExists(key, data, options));
  }
  async writeIfMatch(key: string, data: Uint8Array, etag: string, options?: OpOptions): Promise<CasResult> {
    return this.#stamp(await this.#inner.writeIfMatch(key, data, etag, options));
  }
  delete(key: string, options?: OpOptions): Promise<void> {
    return this.#inner.delete(key, options);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
  #stamp(result: CasResult): CasResult {
    // Truncated to the store's resolution, as S3's whole-second Last-Modified is.
    const r = this.#resolutionMs;
    if (result.success) this.#stamps.set(result.etag, Math.floor(this.#serverNow() / r) * r);
    return result;
  }
}

/** Runs one leader term for `runMs` of node time with the store's clock at `serverRate`. */
async function term(options: {
  serverRate: number;
  runMs?: number;
  clockRateCheck?: boolean;
  plainStore?: boolean;
  resolutionMs?: number;
}) {
  const clock = new ManualClock();
  const inner = new MemLeaseStore();
  const serverNow = () => 1_800_000_000_000 + options.serverRate * clock.now();
  const store: LeaseStore =
    options.plainStore === true ? inner : new ServerClockStore(inner, serverNow, options.resolutionMs ?? 1);
  const timing = resolveLeaseTiming({ clockRateCheck: options.clockRateCheck });
  const metrics = new CoordinatorMetrics();
  let n = 0;
  const lease = new DbLease({
    store,
    db: 'db',
    instanceId: 'node-a',
    address: 'http://a',
    timing,
    clock: clock as Clock,
    newId: () => `id-${++n}`,
    logger: silentLogger,
    metrics,
  });
  const grant = await lease.claim(null, 0, new AbortController().signal);
  if (grant === undefined) throw new Error('claim failed');
  const fence = new TermFence({
    db: 'db',
    epoch: grant.epoch,
    clock,
    sentAt: grant.sentAt,
    windowMs: timing.ttlMs - timing.skewMarginMs,
  });
  const done = runLeaderTerm({ db: 'db', lease, fence, timing, clock, logger: silentLogger, metrics });
  const runMs = options.runMs ?? 60_000;
  let endedAt: number | undefined;
  for (let t = 0; t < runMs && fence.reason === undefined; t += 100) {
    await clock.advance(100);
    if (fence.reason !== undefined) endedAt = clock.now();
  }
  const reason = fence.reason;
  fence.close('leave');
  await clock.advance(timing.ttlMs);
  await done;
  return { reason, endedAt, metrics: metrics.snapshot(), lease, clock, timing };
}

describe('clock-rate check of a leader (ManualClock node, store clock at a chosen rate)', () => {
  it('keeps leading for a minute when the clocks agree, and within the 20 % tolerance', async () => {
    for (const serverRate of [1, 1.15, 0.87]) {
      const out = await term({ serverRate });
      expect([serverRate, out.reason]).toEqual([serverRate, undefined]);
      expect(out.metrics.leaseRenewalsSucceeded).toBeGreaterThan(25);
    }
  });

  it('steps down (fence reason clock-rate, metric) when the node clock runs at 0.5x the store clock', async () => {
    const out = await term({ serverRate: 2 });
    expect(out.reason).toBe('clock-rate');
    expect(out.metrics.demotionsClockRate).toBe(1);
    // Samples start at the claim; a verdict needs them to span one TTL of store time (2.5 s of
    // this node's clock), so the second renewal gives it: 2 + 2 s of node time at the defaults.
    expect(out.endedAt).toBe(2 * out.timing.renewIntervalMs);
  });

  it('steps down when the node clock runs fast (1.5x the store clock)', async () => {
    const out = await term({ serverRate: 1 / 1.5 });
    expect(out.reason).toBe('clock-rate');
  });

  it('refuses to claim again for the hold-off after stepping down, then claims', async () => {
    const out = await term({ serverRate: 2 });
    expect(out.reason).toBe('clock-rate');
    const signal = new AbortController().signal;
    expect(await out.lease.claim(await out.lease.read(signal), 0, signal)).toBeUndefined();
    await out.clock.advance(CLOCK_RATE_HOLD_OFF_TTLS * out.timing.ttlMs);
    expect(await out.lease.claim(await out.lease.read(signal), 0, signal)).toBeDefined();
  });

  it('with a whole-second store clock (S3 Last-Modified): catches 0.5x and 1.5x, never flags 1x or 15 %', async () => {
    for (const serverRate of [1, 1.15, 0.87]) {
      expect([serverRate, (await term({ serverRate, resolutionMs: 1000 })).reason]).toEqual([serverRate, undefined]);
    }
    const slow = await term({ serverRate: 2, resolutionMs: 1000 });
    expect(slow.reason).toBe('clock-rate');
    // Whole seconds widen the bounds: two TTLs of store time instead of one.
    expect(slow.endedAt).toBeLessThanOrEqual(6 * slow.timing.renewIntervalMs);
    expect((await term({ serverRate: 1 / 1.5, resolutionMs: 1000 })).reason).toBe('clock-rate');
  });

  it('does not check when disabled, or when the store reports no server time', async () => {
    expect((await term({ serverRate: 2, runMs: 20_000, clockRateCheck: false })).reason).toBeUndefined();
    expect((await term({ serverRate: 2, runMs: 20_000, plainStore: true })).reason).toBeUndefined();
  });
});

describe('ClockRateMonitor', () => {
  const options = { tolerance: 0.2, minWindowMs: 5000, maxWindowMs: 20_000 };
  const sample = (local: number, server: number, rtt = 10) => ({
    sentAt: local,
    confirmedAt: local + rtt,
    serverMs: server,
    resolutionMs: 1,
  });

  it('gives no verdict before the window spans minWindowMs of store time', () => {
    expect(compare(sample(0, 0), sample(2000, 4000), options)).toBeUndefined();
    expect(compare(sample(0, 0), sample(2500, 5000), options)?.direction).toBe('slow');
  });

  it('never judges on uncertainty: a slow reply widens the bounds instead of causing a verdict', () => {
    // Rate 0.79 measured, but a 2 s round trip makes 1.0 possible.
    expect(compare(sample(0, 0, 2000), sample(7900, 10_000, 2000), options)).toBeUndefined();
    expect(compare(sample(0, 0, 10), sample(7900, 10_000, 10), options)?.direction).toBe('slow');
    expect(compare(sample(0, 0, 10), sample(12_100, 10_000, 10), options)?.direction).toBe('fast');
    expect(compare(sample(0, 0, 10), sample(11_900, 10_000, 10), options)).toBeUndefined();
  });

  it('restarts the window when the store clock goes backwards, and forgets samples past maxWindowMs', () => {
    const monitor = new ClockRateMonitor(options);
    expect(monitor.add(sample(0, 100_000))).toBeUndefined();
    expect(monitor.add(sample(2000, 50_000))).toBeUndefined();
    expect(monitor.add(sample(4000, 52_000))).toBeUndefined();
    // Two samples 2 s apart at rate 1, then 40 s at rate 1: the early (stepped) one is gone.
    for (let i = 1; i <= 20; i++) expect(monitor.add(sample(4000 + i * 2000, 52_000 + i * 2000))).toBeUndefined();
    // The rate drops to 0.5: seen once the slow part dominates the 20 s window.
    let verdict;
    for (let i = 1; i <= 20 && verdict === undefined; i++)
      verdict = monitor.add(sample(44_000 + i * 1000, 92_000 + i * 2000));
    expect(verdict?.direction).toBe('slow');
  });
});
