import { isLeaseError, type LeaseStore } from '@hadb/lease';
import type { Clock } from '@hadb/io';
import { afterAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../fault-proxy.js';
import { ManualClock } from '../manual-clock.js';
import { rejection } from '../rejection.js';
import { leaseBytes } from './records.js';

/** Options of {@link leaseDeadlineScenarios}. */
export interface LeaseDeadlineScenarioOptions {
  /** Label of the backend, e.g. `"nats"` (named in the tests and the timing line). */
  readonly name: string;
  /** The real server (`host:port` or a URL): the scenarios put a {@link FaultProxy} in front of it. */
  readonly target: string;
  /**
   * Opens a store whose server is at `hostPort` (the proxy; add the backend's scheme, e.g.
   * `nats://${hostPort}`), with the given `requestTimeoutMs` and, where given, `clock`. Point every
   * store of one run at a fresh namespace (a unique bucket or prefix).
   */
  readonly open: (hostPort: string, options: { requestTimeoutMs: number; clock?: Clock }) => Promise<LeaseStore>;
  /** Skips the scenarios, e.g. `!testService('etcd').available`. */
  readonly skip?: boolean | undefined;
}

/**
 * Registers the deadline tests every networked {@link LeaseStore} must pass against its real
 * server behind a link that goes silent (a {@link FaultProxy} switched to `blackhole`: the server
 * neither refuses nor resets, so only the store's own deadline can end a call):
 * - past `requestTimeoutMs` a read and a delete are `HADB_LEASE_TIMEOUT`, a CAS is
 *   `HADB_LEASE_AMBIGUOUS` (it may have landed) caused by the timeout; an abort still wins
 *   (`HADB_LEASE_ABORTED`); a store that reports server time reports it while the link is up;
 * - the deadline runs on the injected `Clock`, not only the client library's timer: advancing a
 *   {@link ManualClock} past it ends a call whose client-side timeout is far away.
 * Prints the time each call took to its typed error.
 */
export function leaseDeadlineScenarios(options: LeaseDeadlineScenarioOptions): void {
  const measured: Record<string, number> = {};
  const timed = async (name: string, fn: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> => {
    const started = performance.now();
    const error = await rejection(fn());
    const ms = Math.round(performance.now() - started);
    measured[name] = ms;
    return { error, ms };
  };

  describe.skipIf(options.skip === true)(
    `${options.name} lease store deadlines (real server behind a link that goes silent)`,
    () => {
      afterAll(() => {
        console.info(`lease-${options.name} time to typed error (ms): ${JSON.stringify(measured)}`);
      });

      it('a read is HADB_LEASE_TIMEOUT, a CAS HADB_LEASE_AMBIGUOUS caused by the timeout; an abort still wins', async () => {
        const hole = await FaultProxy.listen({ target: options.target });
        const store = await options.open(hole.hostPort, { requestTimeoutMs: 800 });
        try {
          const key = store.keyFor('silent');
          const created = await store.writeIfNotExists(key, leaseBytes('node-a'));
          if (!created.success) throw new Error('create failed');
          if (store.capabilities.serverTimeResolutionMs !== undefined) {
            expect((await store.read(key))?.serverTimeMs).toBeTypeOf('number');
          }
          hole.setMode('blackhole');
          const read = await timed('read (800 ms)', () => store.read(key));
          expect(isLeaseError(read.error, 'HADB_LEASE_TIMEOUT'), String(read.error)).toBe(true);
          expect(read.ms).toBeGreaterThanOrEqual(790);
          const cas = await timed('writeIfMatch (800 ms)', () =>
            store.writeIfMatch(key, leaseBytes('b'), created.etag),
          );
          expect(isLeaseError(cas.error, 'HADB_LEASE_AMBIGUOUS'), String(cas.error)).toBe(true);
          expect(isLeaseError((cas.error as Error).cause, 'HADB_LEASE_TIMEOUT')).toBe(true);
          const deleted = await timed('delete (800 ms)', () => store.delete(key));
          expect(isLeaseError(deleted.error, 'HADB_LEASE_TIMEOUT'), String(deleted.error)).toBe(true);
          const controller = new AbortController();
          setTimeout(() => controller.abort(), 50);
          const aborted = await timed('read aborted at 50 ms', () => store.read(key, { signal: controller.signal }));
          expect(isLeaseError(aborted.error, 'HADB_LEASE_ABORTED'), String(aborted.error)).toBe(true);
        } finally {
          await hole.close();
          await store.close().catch(() => undefined);
        }
      }, 30_000);

      it("bounds a whole call on the injected clock, not only the client library's timeout", async () => {
        const hole = await FaultProxy.listen({ target: options.target });
        const clock = new ManualClock({ wallOriginMs: Date.now() });
        const store = await options.open(hole.hostPort, { requestTimeoutMs: 20_000, clock });
        try {
          const key = store.keyFor('silent-manual');
          hole.setMode('blackhole');
          const pending = rejection(store.read(key));
          await clock.advance(20_000);
          const error = await pending;
          // The store's own deadline ended it: the client's 20 s (real time) timeout is far away.
          expect(isLeaseError(error, 'HADB_LEASE_TIMEOUT'), String(error)).toBe(true);
          expect((error as Error).message).toContain('timed out after 20000 ms');
        } finally {
          await hole.close();
          await store.close().catch(() => undefined);
        }
      }, 15_000);
    },
  );
}
