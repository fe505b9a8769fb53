import { setImmediate as yieldMacrotask } from 'node:timers/promises';
import { Prng } from '@hadb/testkit';

/**
 * A simulated process. Tasks scheduled for a host do not run while it is paused (they run, in
 * order, when it resumes) and never run after it crashed (its incarnation changed).
 */
export class Host {
  readonly name: string;
  incarnation = 0;
  paused = false;
  alive = true;
  readonly deferred: Task[] = [];

  constructor(name: string) {
    this.name = name;
  }
}

export interface Task {
  t: number;
  seq: number;
  readonly host: Host | null;
  readonly incarnation: number;
  readonly fn: () => void;
  cancelled: boolean;
  /** Runs no node code (settles no promise), so no microtask drain is needed after it. */
  pure: boolean;
}

/**
 * Deterministic discrete-event scheduler. Virtual time only moves when the next task is taken
 * from the queue; after each task every microtask it caused runs to completion before the next
 * task (one macrotask turn), so the same seed always produces the same interleaving.
 */
export class Scheduler {
  now = 0;
  readonly rng: Prng;
  private heap: Task[] = [];
  private seq = 0;
  /** Runs after every task that did something (invariant checks). */
  afterTask: (() => void) | undefined;
  /** Number of tasks that ran. */
  steps = 0;

  constructor(seed: number) {
    this.rng = new Prng(seed);
  }

  /**
   * Runs `fn` after `delayMs`. A host task belongs to the host's incarnation at the time of the
   * call (or `incarnation`, for a reply to a request an earlier incarnation sent).
   */
  schedule(delayMs: number, fn: () => void, host: Host | null = null, incarnation?: number): Task {
    const task: Task = {
      t: this.now + Math.max(0, delayMs),
      seq: this.seq++,
      host,
      incarnation: incarnation ?? host?.incarnation ?? 0,
      fn,
      cancelled: false,
      pure: false,
    };
    this.push(task);
    return task;
  }

  /** Like {@link schedule} for a global task that settles no promise (a request reaching a service). */
  schedulePure(delayMs: number, fn: () => void): void {
    this.schedule(delayMs, fn).pure = true;
  }

  /** Pauses `host` for `ms` of virtual time. */
  pause(host: Host, ms: number): void {
    if (host.paused || !host.alive) return;
    host.paused = true;
    this.schedule(ms, () => this.resume(host));
  }

  resume(host: Host): void {
    if (!host.paused) return;
    host.paused = false;
    for (const task of host.deferred.splice(0)) {
      task.t = this.now;
      task.seq = this.seq++;
      this.push(task);
    }
  }

  /** Kills `host`: every pending and future task of this incarnation is dropped. */
  crash(host: Host): void {
    host.incarnation++;
    host.alive = false;
    host.paused = false;
    host.deferred.length = 0;
  }

  /** Brings a crashed host back as a new incarnation. */
  revive(host: Host): void {
    host.alive = true;
  }

  /** Runs tasks until virtual time `until` or `stop()` returns true (checked after each task). */
  async runUntil(until: number, stop?: () => boolean): Promise<void> {
    while (this.heap.length > 0) {
      const top = this.heap[0]!;
      if (top.t > until) break;
      this.pop();
      if (top.t > this.now) this.now = top.t;
      if (!this.fire(top)) continue;
      this.steps++;
      if (top.pure) continue;
      await yieldMacrotask();
      this.afterTask?.();
      if (stop?.() === true) return;
    }
    if (this.now < until) this.now = until;
  }

  async runFor(ms: number, stop?: () => boolean): Promise<void> {
    await this.runUntil(this.now + ms, stop);
  }

  private fire(task: Task): boolean {
    if (task.cancelled) return false;
    const host = task.host;
    if (host !== null) {
      if (host.incarnation !== task.incarnation) return false;
      if (host.paused) {
        host.deferred.push(task);
        return false;
      }
    }
    task.fn();
    return true;
  }

  private less(a: Task, b: Task): boolean {
    return a.t < b.t || (a.t === b.t && a.seq < b.seq);
  }

  private push(task: Task): void {
    const h = this.heap;
    h.push(task);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Task | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
