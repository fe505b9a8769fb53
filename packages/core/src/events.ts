import type { FenceReason } from './fence.js';
import type { Role } from './role.js';

/** Why a leader stopped leading. */
export type DemotionReason = FenceReason;

/**
 * What the coordinator reports, as a union discriminated on `type`:
 * - `joined`: `join` finished with `role`.
 * - `promoted`: this node became leader of `db` with term `epoch` (after catching up and starting
 *   the replicator).
 * - `fenced`: the term `epoch` ended involuntarily (`deadline`: renewals did not confirm in time;
 *   `lease-lost`: another node holds the lease; `deposed`: the replicator found a newer term;
 *   `clock-rate`: this node's clock ran outside the rate tolerance and it stepped down;
 *   `aborted`: promotion failed). Writes were refused from this moment on.
 * - `demoted`: this node stopped leading `db` and follows again (also after `handoff`).
 * - `sleeping`: the lease record says the cluster is parked; nobody will be promoted.
 */
export type RoleEvent =
  | { readonly type: 'joined'; readonly db: string; readonly role: Role }
  | { readonly type: 'promoted'; readonly db: string; readonly epoch: number }
  | { readonly type: 'fenced'; readonly db: string; readonly epoch: number; readonly reason: FenceReason }
  | { readonly type: 'demoted'; readonly db: string; readonly epoch: number; readonly reason: DemotionReason }
  | { readonly type: 'sleeping'; readonly db: string };

/** The `type`s of {@link RoleEvent}. */
export type RoleEventType = RoleEvent['type'];

/** The event of a given type. */
export type RoleEventOf<T extends RoleEventType> = Extract<RoleEvent, { type: T }>;

/** A subscriber; exceptions it throws are caught and logged, never propagated. */
export type RoleEventListener<T extends RoleEventType = RoleEventType> = (event: RoleEventOf<T>) => void;

/** Events buffered per async iterator before the oldest are dropped (a slow consumer lags, it does not leak). */
export const ROLE_EVENT_BUFFER = 1024;

/**
 * Fan-out of {@link RoleEvent}s: EventEmitter-style listeners (`on`/`off`/`once`, by type or `'*'`)
 * and async iterators. Listeners run synchronously in the order they were added.
 */
export class RoleEventHub {
  readonly #listeners = new Map<RoleEventType | '*', Set<(event: RoleEvent) => void>>();
  readonly #onListenerError: (err: unknown) => void;
  #closed = false;
  readonly #iterators = new Set<() => void>();

  constructor(onListenerError: (err: unknown) => void = () => {}) {
    this.#onListenerError = onListenerError;
  }

  on<T extends RoleEventType>(type: T | '*', listener: RoleEventListener<T>): () => void {
    let set = this.#listeners.get(type);
    if (set === undefined) this.#listeners.set(type, (set = new Set()));
    set.add(listener as (event: RoleEvent) => void);
    return () => this.off(type, listener);
  }

  off<T extends RoleEventType>(type: T | '*', listener: RoleEventListener<T>): void {
    this.#listeners.get(type)?.delete(listener as (event: RoleEvent) => void);
  }

  once<T extends RoleEventType>(type: T | '*', listener: RoleEventListener<T>): () => void {
    const off = this.on<T>(type, (event) => {
      off();
      listener(event);
    });
    return off;
  }

  emit(event: RoleEvent): void {
    for (const key of [event.type, '*'] as const) {
      const set = this.#listeners.get(key);
      if (set === undefined) continue;
      for (const listener of [...set]) {
        try {
          listener(event);
        } catch (err) {
          this.#onListenerError(err);
        }
      }
    }
  }

  /**
   * An async iterator over events emitted from now on. It ends when `signal` aborts, when the
   * consumer breaks out of its loop, or when the hub closes. At most {@link ROLE_EVENT_BUFFER}
   * unconsumed events are kept (oldest dropped first).
   */
  iterate(signal?: AbortSignal): AsyncIterableIterator<RoleEvent> {
    const queue: RoleEvent[] = [];
    let wake: (() => void) | undefined;
    let done = this.#closed || signal?.aborted === true;
    const finish = (): void => {
      if (done) return;
      done = true;
      off();
      signal?.removeEventListener('abort', finish);
      this.#iterators.delete(finish);
      wake?.();
    };
    const off = this.on('*', (event) => {
      queue.push(event);
      if (queue.length > ROLE_EVENT_BUFFER) queue.shift();
      wake?.();
    });
    if (done) off();
    else {
      signal?.addEventListener('abort', finish, { once: true });
      this.#iterators.add(finish);
    }
    const iterator: AsyncIterableIterator<RoleEvent> = {
      async next(): Promise<IteratorResult<RoleEvent>> {
        for (;;) {
          const event = queue.shift();
          if (event !== undefined) return { value: event, done: false };
          if (done) return { value: undefined, done: true };
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      },
      async return(): Promise<IteratorResult<RoleEvent>> {
        finish();
        queue.length = 0;
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /** Ends every iterator and drops every listener. */
  close(): void {
    this.#closed = true;
    for (const finish of [...this.#iterators]) finish();
    this.#listeners.clear();
  }
}
