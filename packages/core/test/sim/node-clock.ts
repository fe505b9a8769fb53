import type { Clock } from '@hadb/io';
import type { Host, Scheduler } from './scheduler.js';

/**
 * A host's clocks: monotonic time starts at `monoBase` when the incarnation boots and runs at
 * `rate` × real time; the wall clock runs at the same rate with a fixed offset. Sleeps are host
 * tasks, so they stall while the host is paused and vanish when it crashes.
 */
export class NodeClock implements Clock {
  private readonly sim: Scheduler;
  private readonly host: Host;
  readonly rate: number;
  readonly wallOffsetMs: number;
  private readonly bootReal: number;
  private readonly monoBase: number;

  constructor(sim: Scheduler, host: Host, options: { rate: number; wallOffsetMs: number; monoBase: number }) {
    this.sim = sim;
    this.host = host;
    this.rate = options.rate;
    this.wallOffsetMs = options.wallOffsetMs;
    this.bootReal = sim.now;
    this.monoBase = options.monoBase;
  }

  now(): number {
    return this.monoBase + (this.sim.now - this.bootReal) * this.rate;
  }

  wallMs(): number {
    return 1_700_000_000_000 + this.wallOffsetMs + this.sim.now * this.rate;
  }

  timer(ms: number, fn: () => void): { cancel(): void } {
    const task = this.sim.schedule(Math.max(0, ms) / this.rate, fn, this.host);
    return { cancel: () => (task.cancelled = true) };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        task.cancelled = true;
        reject(signal?.reason);
      };
      const task = this.sim.schedule(
        Math.max(0, ms) / this.rate,
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        this.host,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
