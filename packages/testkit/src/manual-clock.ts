import type { Clock, Timer } from '@hadb/io';

interface Pending {
  readonly at: number;
  readonly seq: number;
  readonly fire: () => void;
}

/**
 * A virtual {@link Clock} for deterministic tests: time stands still until {@link advance} moves
 * it, firing due timers and sleeps in time order (ties in the order they were set), with the
 * microtasks they start run in between.
 */
export class ManualClock implements Clock {
  #now: number;
  readonly #wallOrigin: number;
  #seq = 0;
  #pending: Pending[] = [];

  /** `startMs` is the first `now()`; `wallOriginMs` is `wallMs()` at `now() === startMs`. */
  constructor(options: { readonly startMs?: number; readonly wallOriginMs?: number } = {}) {
    this.#now = options.startMs ?? 0;
    this.#wallOrigin = (options.wallOriginMs ?? 1_700_000_000_000) - this.#now;
  }

  now(): number {
    return this.#now;
  }

  wallMs(): number {
    return this.#wallOrigin + this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        timer.cancel();
        reject(signal?.reason);
      };
      const timer = this.timer(ms, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  timer(ms: number, fn: () => void): Timer {
    const entry: Pending = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fire: fn };
    this.#pending.push(entry);
    return {
      cancel: () => {
        this.#pending = this.#pending.filter((p) => p !== entry);
      },
    };
  }

  /** Timers and sleeps not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#pending.length;
  }

  /**
   * Moves time forward by `ms`, firing every timer due on the way at its own time; microtasks
   * (and so the continuations of resolved sleeps) run after each one, so a timer set by a fired
   * one also fires if it falls due within the window.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError('advance(ms) needs ms >= 0');
    const end = this.#now + ms;
    for (;;) {
      await settleMicrotasks();
      const next = this.#nextDue(end);
      if (next === undefined) break;
      this.#pending = this.#pending.filter((p) => p !== next);
      this.#now = next.at;
      next.fire();
    }
    this.#now = end;
    await settleMicrotasks();
  }

  /** Advances to the next pending timer and fires it (and any due at the same time); false if none. */
  async runNext(): Promise<boolean> {
    const next = this.#nextDue(Number.POSITIVE_INFINITY);
    if (next === undefined) return false;
    await this.advance(next.at - this.#now);
    return true;
  }

  #nextDue(end: number): Pending | undefined {
    let best: Pending | undefined;
    for (const p of this.#pending) {
      if (p.at > end) continue;
      if (best === undefined || p.at < best.at || (p.at === best.at && p.seq < best.seq)) best = p;
    }
    return best;
  }
}

/** Lets queued promise continuations run (several turns, for chains of awaits). */
async function settleMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}
