/**
 * Clock-rate check of a leader: how fast this node's monotonic clock runs compared with the lease
 * store's clock, measured on the leader's own renewals.
 *
 * A term's safety rests on rates, not offsets: the holder stops writing `TTL − margin` after a
 * renewal on its clock, a claimer waits `TTL + margin` on its own, so the two never overlap while
 * the holder's clock runs at least `(TTL − m)/(TTL + m)` as fast as the claimer's — a relative
 * rate error of about `m / TTL` (20 % at the defaults). This check catches a node outside that
 * band: each renewal is a write the store stamps with its own time (`LeaseRecord.serverTimeMs`),
 * and the write happened somewhere between its send and its confirmation on this node's clock.
 */

/** One renewal: sent at `sentAt`, confirmed at `confirmedAt` (monotonic), stamped `serverMs` by the store. */
export interface ClockRateSample {
  readonly sentAt: number;
  readonly confirmedAt: number;
  /** The store's time of the write, Unix ms. */
  readonly serverMs: number;
  /** Resolution of `serverMs` (the store's `serverTimeResolutionMs`). */
  readonly resolutionMs: number;
}

/** A rate the monitor is sure lies outside the tolerance. */
export interface ClockRateVerdict {
  /** Best estimate of (this node's monotonic ms) per (store ms). 1 = same rate. */
  readonly rate: number;
  /** Lowest and highest rate the samples allow (send/confirm brackets and timestamp resolution). */
  readonly low: number;
  readonly high: number;
  /** Store time the comparison spans, ms. */
  readonly windowMs: number;
  /** `slow`: this node's clock runs slow (its term would outlast its deadline); `fast`: it runs fast. */
  readonly direction: 'slow' | 'fast';
}

/** Settings of {@link ClockRateMonitor}. */
export interface ClockRateOptions {
  /** Largest relative rate error accepted, e.g. 0.2 for 20 %. */
  readonly tolerance: number;
  /** The comparison waits until the samples span at least this much store time. */
  readonly minWindowMs: number;
  /** Samples older than this (store time) before the newest are dropped. */
  readonly maxWindowMs: number;
}

/**
 * Collects renewal samples and reports a {@link ClockRateVerdict} once the rate is *provably*
 * outside `1 ± tolerance`: the comparison of the newest sample with the oldest one kept (spanning
 * `minWindowMs` to `maxWindowMs` of store time) uses the widest bounds the samples allow, so
 * network delay and timestamp resolution can delay a verdict but never cause a false one. A store
 * clock that goes backwards (stepped) restarts the window.
 */
export class ClockRateMonitor {
  readonly #options: ClockRateOptions;
  #samples: ClockRateSample[] = [];

  constructor(options: ClockRateOptions) {
    this.#options = options;
  }

  /** Adds a sample; returns a verdict when the rate is outside the tolerance, else `undefined`. */
  add(sample: ClockRateSample): ClockRateVerdict | undefined {
    const last = this.#samples[this.#samples.length - 1];
    if (last !== undefined && (sample.serverMs < last.serverMs || sample.sentAt < last.sentAt)) this.#samples = [];
    this.#samples.push(sample);
    const horizon = sample.serverMs - this.#options.maxWindowMs;
    while (this.#samples.length > 2 && (this.#samples[1] as ClockRateSample).serverMs <= horizon) this.#samples.shift();
    const first = this.#samples[0] as ClockRateSample;
    return compare(first, sample, this.#options);
  }

  /** Forgets every sample (a new term starts a new window). */
  reset(): void {
    this.#samples = [];
  }
}

/** The verdict for two samples, or `undefined` when they span too little or the rate may be fine. */
export function compare(
  older: ClockRateSample,
  newer: ClockRateSample,
  options: ClockRateOptions,
): ClockRateVerdict | undefined {
  const windowMs = newer.serverMs - older.serverMs;
  if (windowMs < options.minWindowMs) return undefined;
  const slack = older.resolutionMs + newer.resolutionMs;
  const localMin = Math.max(0, newer.sentAt - older.confirmedAt);
  const localMax = newer.confirmedAt - older.sentAt;
  const low = localMin / (windowMs + slack);
  const high = windowMs > slack ? localMax / (windowMs - slack) : Number.POSITIVE_INFINITY;
  const rate = (localMin + localMax) / 2 / windowMs;
  if (high < 1 - options.tolerance) return { rate, low, high, windowMs, direction: 'slow' };
  if (low > 1 + options.tolerance) return { rate, low, high, windowMs, direction: 'fast' };
  return undefined;
}
