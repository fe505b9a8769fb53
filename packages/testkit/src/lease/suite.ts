import {
  decodeLeaseData,
  encodeLeaseData,
  isLeaseError,
  isLeaseExpired,
  isLeaseReleased,
  releaseLease,
  type LeaseErrorCode,
  type LeaseStore,
} from '@hadb/lease';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_INVALID_KEYS, DEFAULT_INVALID_SCOPES, RUST_LEASE_FIXTURES } from './fixtures.js';
import type { LeaseStoreSuiteOptions } from './options.js';
import { isSameRecord, lease, leaseBytes, text, uniqueScope, withNonce } from './records.js';

const encoder = new TextEncoder();

/** Awaits `action` and checks that it failed with a `LeaseError` of `code`. */
async function expectLeaseError(action: () => unknown, code: LeaseErrorCode): Promise<void> {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected ${code}`).toBeDefined();
  expect(isLeaseError(caught), `expected a LeaseError, got ${String(caught)}`).toBe(true);
  expect((caught as { code: string }).code).toBe(code);
}

/**
 * The conformance suite every {@link LeaseStore} must pass. Call it once from the backend's test
 * file; it registers a `describe` block with the tests below (run against a real server where the
 * backend has one):
 *
 * - capabilities as declared; key layout (`keyFor`) as the Rust crates build it; unsafe scopes and
 *   keys rejected with `HADB_LEASE_INVALID_KEY`
 * - CAS: create on missing, create on existing fails, update with the current etag succeeds and
 *   changes the etag, stale etag fails, update on missing fails, read of a missing key is `null`
 * - unique etags: rewriting identical bytes or re-creating a deleted key never brings back an old
 *   etag (no ABA)
 * - idempotent `delete`
 * - races: N concurrent writers (create and update) with exactly one winner, whose record is stored
 * - fencing: the epoch strictly increases across takeovers, sequential and concurrent
 * - release: `releaseLease` is conditional and leaves a successor's record alone
 * - the Rust interop fixture stored and read back byte-identically (or, on nonce-stamping stores,
 *   with only the nonce added)
 * - abort (`HADB_LEASE_ABORTED`, nothing written), `close()` idempotent, `await using`,
 *   `HADB_LEASE_CLOSED` after close
 * - decimal, monotonic etags when the capabilities say so
 */
export function leaseStoreSuite(options: LeaseStoreSuiteOptions): void {
  const shared = options.sharedAcrossInstances ?? true;
  const stamps = options.capabilities.stampsNonce === true;
  const rounds = options.raceRounds ?? 200;
  const writers = options.raceWriters ?? 20;
  const takeovers = options.takeovers ?? 50;
  const timeout = options.timeoutMs ?? 60_000;
  const opened: LeaseStore[] = [];

  async function open(): Promise<LeaseStore> {
    const store = await options.create();
    opened.push(store);
    return store;
  }

  /** `count` stores sharing data: separate instances when the backend allows, else one. */
  async function peers(count: number): Promise<LeaseStore[]> {
    const first = await open();
    if (!shared) return Array.from({ length: count }, () => first);
    const rest = await Promise.all(Array.from({ length: count - 1 }, () => open()));
    return [first, ...rest];
  }

  describe.skipIf(options.skip === true)(`LeaseStore conformance: ${options.name}`, { timeout }, () => {
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });
    if (options.cleanup) afterAll(options.cleanup);

    describe('contract surface', () => {
      it('reports its name and the declared capabilities', async () => {
        const store = await open();
        expect(typeof store.name).toBe('string');
        expect(store.name.length).toBeGreaterThan(0);
        expect(store.capabilities).toEqual(options.capabilities);
        if (store.capabilities.monotonicEtags) expect(store.capabilities.etagKind).toBe('revision');
      });

      it(`two stores from create() ${shared ? 'share' : 'do not share'} records (sharedAcrossInstances: ${shared})`, async () => {
        // Guards the option itself: a network store whose test still says `false` (copied from
        // the in-memory template) would run every race on one instance and pass a weaker suite.
        const [a, b] = [await open(), await open()];
        const key = a.keyFor(uniqueScope('shared'));
        expect((await a.writeIfNotExists(key, leaseBytes('a'))).success).toBe(true);
        const seen = (await b.read(key)) !== null;
        await a.delete(key);
        expect(
          seen,
          shared
            ? 'the stores do not share records: set sharedAcrossInstances: false'
            : 'the stores share records: remove sharedAcrossInstances: false',
        ).toBe(shared);
      });

      it('builds keys in the Rust layout', async () => {
        const store = await open();
        expect(options.keyLayout.length).toBeGreaterThan(0);
        for (const [scope, key] of options.keyLayout) expect(store.keyFor(scope)).toBe(key);
      });

      it('rejects unsafe scopes with HADB_LEASE_INVALID_KEY', async () => {
        const store = await open();
        for (const scope of options.invalidScopes ?? DEFAULT_INVALID_SCOPES) {
          await expectLeaseError(() => store.keyFor(scope), 'HADB_LEASE_INVALID_KEY');
        }
      });

      it('rejects unsafe keys in every I/O method with HADB_LEASE_INVALID_KEY', async () => {
        const store = await open();
        const body = leaseBytes('invalid-key');
        for (const key of options.invalidKeys ?? DEFAULT_INVALID_KEYS) {
          await expectLeaseError(() => store.read(key), 'HADB_LEASE_INVALID_KEY');
          await expectLeaseError(() => store.writeIfNotExists(key, body), 'HADB_LEASE_INVALID_KEY');
          await expectLeaseError(() => store.writeIfMatch(key, body, '1'), 'HADB_LEASE_INVALID_KEY');
          await expectLeaseError(() => store.delete(key), 'HADB_LEASE_INVALID_KEY');
        }
      });
    });

    describe('compare-and-swap', () => {
      it('reads a missing key as null', async () => {
        const store = await open();
        expect(await store.read(store.keyFor(uniqueScope('missing')))).toBeNull();
      });

      it('creates a missing record and reads it back with the returned etag', async () => {
        const store = await open();
        const key = store.keyFor(uniqueScope('create'));
        const body = leaseBytes('node-a');
        const created = await store.writeIfNotExists(key, body);
        expect(created.success).toBe(true);
        if (!created.success) return;
        expect(typeof created.etag).toBe('string');
        expect(created.etag.length).toBeGreaterThan(0);
        const read = await store.read(key);
        expect(read).not.toBeNull();
        expect(read?.data).toBeInstanceOf(Uint8Array);
        expect(read?.etag).toBe(created.etag);
        expect(isSameRecord(read!.data, body, stamps)).toBe(true);
      });

      it('refuses to create over an existing record and leaves it unchanged', async () => {
        const store = await open();
        const key = store.keyFor(uniqueScope('create-existing'));
        const first = leaseBytes('node-a');
        const created = await store.writeIfNotExists(key, first);
        expect(created.success).toBe(true);
        expect(await store.writeIfNotExists(key, leaseBytes('node-b'))).toEqual({ success: false });
        const read = await store.read(key);
        expect(isSameRecord(read!.data, first, stamps)).toBe(true);
        expect(read!.etag).toBe(created.success ? created.etag : '');
      });

      it('updates with the current etag, which changes the etag', async () => {
        const store = await open();
        const key = store.keyFor(uniqueScope('update'));
        const created = await store.writeIfNotExists(key, leaseBytes('node-a'));
        if (!created.success) throw new Error('create failed');
        const next = leaseBytes('node-a', { claimedAt: 1_800_000_000 });
        const updated = await store.writeIfMatch(key, next, created.etag);
        expect(updated.success).toBe(true);
        if (!updated.success) return;
        expect(updated.etag).not.toBe(created.etag);
        const read = await store.read(key);
        expect(read!.etag).toBe(updated.etag);
        expect(isSameRecord(read!.data, next, stamps)).toBe(true);
      });

      it('refuses a stale etag and leaves the record unchanged', async () => {
        const store = await open();
        const key = store.keyFor(uniqueScope('stale'));
        const created = await store.writeIfNotExists(key, leaseBytes('node-a'));
        if (!created.success) throw new Error('create failed');
        const current = leaseBytes('node-b');
        const updated = await store.writeIfMatch(key, current, created.etag);
        if (!updated.success) throw new Error('update failed');
        expect(await store.writeIfMatch(key, leaseBytes('node-c'), created.etag)).toEqual({ success: false });
        const read = await store.read(key);
        expect(read!.etag).toBe(updated.etag);
        expect(isSameRecord(read!.data, current, stamps)).toBe(true);
      });

      it('refuses to update a missing record', async () => {
        const store = await open();
        const key = store.keyFor(uniqueScope('update-missing'));
        const other = store.keyFor(uniqueScope('update-missing-other'));
        const created = await store.writeIfNotExists(other, leaseBytes('node-a'));
        if (!created.success) throw new Error('create failed');
        expect(await store.writeIfMatch(key, leaseBytes('node-a'), created.etag)).toEqual({ success: false });
        expect(await store.read(key)).toBeNull();
      });

      it('never returns an old etag again: same bytes rewritten, or a deleted key re-created (no ABA)', async () => {
        const store = await open();
        const key = store.keyFor(uniqueScope('aba'));
        const body = leaseBytes('node-a');
        const seen: string[] = [];
        const a = await store.writeIfNotExists(key, body);
        if (!a.success) throw new Error('create failed');
        seen.push(a.etag);
        const b = await store.writeIfMatch(key, leaseBytes('node-b'), a.etag);
        if (!b.success) throw new Error('update failed');
        seen.push(b.etag);
        const again = await store.writeIfMatch(key, body, b.etag);
        if (!again.success) throw new Error('rewrite failed');
        seen.push(again.etag);
        await store.delete(key);
        const recreated = await store.writeIfNotExists(key, body);
        if (!recreated.success) throw new Error('re-create failed');
        seen.push(recreated.etag);
        expect(new Set(seen).size).toBe(seen.length);
        for (const stale of seen.slice(0, -1)) {
          expect(await store.writeIfMatch(key, leaseBytes('node-z'), stale)).toEqual({ success: false });
        }
        expect((await store.read(key))!.etag).toBe(recreated.etag);
      });

      it('treats a malformed etag as a conflict or HADB_LEASE_INVALID_ETAG, never a success', async () => {
        const store = await open();
        const key = store.keyFor(uniqueScope('bad-etag'));
        const created = await store.writeIfNotExists(key, leaseBytes('node-a'));
        if (!created.success) throw new Error('create failed');
        for (const etag of ['not-an-etag', '', '-1']) {
          if (store.capabilities.etagKind === 'revision') {
            await expectLeaseError(
              () => store.writeIfMatch(key, leaseBytes('node-b'), etag),
              'HADB_LEASE_INVALID_ETAG',
            );
          } else {
            // Opaque etags: a token no write returned either conflicts or is refused as malformed.
            let outcome: unknown;
            try {
              outcome = await store.writeIfMatch(key, leaseBytes('node-b'), etag);
            } catch (error) {
              outcome = isLeaseError(error, 'HADB_LEASE_INVALID_ETAG') ? 'invalid' : error;
            }
            expect([JSON.stringify({ success: false }), '"invalid"']).toContain(JSON.stringify(outcome));
          }
        }
        expect((await store.read(key))!.etag).toBe(created.etag);
      });
    });

    describe('delete', () => {
      it('is idempotent and lets the key be created again', async () => {
        const store = await open();
        const key = store.keyFor(uniqueScope('delete'));
        await store.delete(key);
        const created = await store.writeIfNotExists(key, leaseBytes('node-a'));
        if (!created.success) throw new Error('create failed');
        await store.delete(key);
        expect(await store.read(key)).toBeNull();
        await store.delete(key);
        expect(await store.read(key)).toBeNull();
        expect(await store.writeIfMatch(key, leaseBytes('node-a'), created.etag)).toEqual({ success: false });
        expect((await store.writeIfNotExists(key, leaseBytes('node-b'))).success).toBe(true);
      });
    });

    describe('races', () => {
      it(`gives exactly one of ${writers} concurrent writers the win, ${rounds} rounds of create and update`, async () => {
        const stores = await peers(3);
        const scope = uniqueScope('race');
        for (let round = 0; round < rounds; round++) {
          const key = stores[0]!.keyFor(`${scope}-${round}`);
          const bodies = Array.from({ length: writers }, (_, i) => leaseBytes(`writer-${i}`));
          const creates = await Promise.all(
            bodies.map((body, i) => stores[i % stores.length]!.writeIfNotExists(key, body)),
          );
          const createWinners = creates.flatMap((r, i) => (r.success ? [{ i, etag: r.etag }] : []));
          expect(createWinners, `round ${round}: create winners`).toHaveLength(1);
          const created = createWinners[0]!;
          let read = await stores[round % stores.length]!.read(key);
          expect(read!.etag).toBe(created.etag);
          expect(isSameRecord(read!.data, bodies[created.i]!, stamps)).toBe(true);

          const next = Array.from({ length: writers }, (_, i) => leaseBytes(`updater-${i}`));
          const updates = await Promise.all(
            next.map((body, i) => stores[(i + 1) % stores.length]!.writeIfMatch(key, body, created.etag)),
          );
          const updateWinners = updates.flatMap((r, i) => (r.success ? [{ i, etag: r.etag }] : []));
          expect(updateWinners, `round ${round}: update winners`).toHaveLength(1);
          const updated = updateWinners[0]!;
          read = await stores[(round + 1) % stores.length]!.read(key);
          expect(read!.etag).toBe(updated.etag);
          expect(isSameRecord(read!.data, next[updated.i]!, stamps)).toBe(true);
        }
      });

      it('sees writes of one instance from another', async () => {
        if (!shared) return;
        const [a, b] = await peers(2);
        const key = a!.keyFor(uniqueScope('visibility'));
        const created = await a!.writeIfNotExists(key, leaseBytes('node-a'));
        if (!created.success) throw new Error('create failed');
        expect((await b!.read(key))!.etag).toBe(created.etag);
        const updated = await b!.writeIfMatch(key, leaseBytes('node-b'), created.etag);
        if (!updated.success) throw new Error('update failed');
        const seen = await a!.read(key);
        expect(seen!.etag).toBe(updated.etag);
        expect(lease(seen!.data).instanceId).toBe('node-b');
      });
    });

    describe('fencing epoch', () => {
      /** One takeover attempt: read, bump the epoch, CAS on the read etag. */
      async function takeOver(store: LeaseStore, key: string, taker: string) {
        const current = await store.read(key);
        if (current === null) throw new Error('lease record vanished');
        const previous = decodeLeaseData(current.data);
        const epoch = (previous.epoch ?? 0) + 1;
        const body = leaseBytes(taker, { epoch });
        const result = await store.writeIfMatch(key, body, current.etag);
        return { result, epoch, body };
      }

      it('increases strictly across sequential takeovers, each visible once accepted', async () => {
        const stores = await peers(2);
        const key = stores[0]!.keyFor(uniqueScope('epoch-seq'));
        // Start from a record written by Rust: no epoch field, read as 0.
        expect((await stores[0]!.writeIfNotExists(key, encoder.encode(RUST_LEASE_FIXTURES.interop))).success).toBe(
          true,
        );
        let last = 0;
        for (let i = 0; i < 10; i++) {
          const store = stores[i % stores.length]!;
          const { result, epoch, body } = await takeOver(store, key, `taker-${i % 3}`);
          expect(result.success).toBe(true);
          if (!result.success) return;
          expect(epoch).toBe(last + 1);
          last = epoch;
          const seen = await stores[(i + 1) % stores.length]!.read(key);
          expect(seen!.etag).toBe(result.etag);
          expect(isSameRecord(seen!.data, body, stamps)).toBe(true);
          expect(decodeLeaseData(seen!.data).epoch).toBe(epoch);
        }
      });

      it(`increases strictly across ${takeovers} concurrent takeovers (no epoch accepted twice, none skipped)`, async () => {
        const stores = await peers(3);
        const key = stores[0]!.keyFor(uniqueScope('epoch-race'));
        expect((await stores[0]!.writeIfNotExists(key, leaseBytes('seed', { epoch: 0 }))).success).toBe(true);
        const accepted: { epoch: number; taker: string; etag: string }[] = [];
        const takers = Array.from({ length: 5 }, async (_, t) => {
          const store = stores[t % stores.length]!;
          while (accepted.length < takeovers) {
            const { result, epoch } = await takeOver(store, key, `taker-${t}`);
            if (result.success) accepted.push({ epoch, taker: `taker-${t}`, etag: result.etag });
          }
        });
        await Promise.all(takers);
        const epochs = accepted.map((a) => a.epoch).sort((x, y) => x - y);
        expect(epochs).toEqual(Array.from({ length: epochs.length }, (_, i) => i + 1));
        const final = await stores[1 % stores.length]!.read(key);
        const top = accepted.find((a) => a.epoch === epochs.length)!;
        expect(final!.etag).toBe(top.etag);
        expect(decodeLeaseData(final!.data)).toMatchObject({ epoch: epochs.length, instanceId: top.taker });
      });
    });

    describe('release', () => {
      it('writes a released record conditionally, keeps the epoch, and leaves a successor alone', async () => {
        const store = await open();
        const key = store.keyFor(uniqueScope('release'));
        const held = { ...decodeLeaseData(leaseBytes('holder', { epoch: 4 })) };
        const created = await store.writeIfNotExists(key, encodeLeaseData(held));
        if (!created.success) throw new Error('create failed');
        const released = await releaseLease(store, key, { lease: held, etag: created.etag });
        expect(released.success).toBe(true);
        if (!released.success) return;
        const seen = await store.read(key);
        const record = decodeLeaseData(seen!.data);
        expect(isLeaseReleased(record)).toBe(true);
        expect(isLeaseExpired(record)).toBe(true);
        expect(record).toMatchObject({ instanceId: 'holder', epoch: 4, claimedAt: 0, ttlSecs: 0, sleeping: false });
        // Rust readers ignore `released` but see the record expired: claimed_at + ttl_secs = 0.
        const raw = JSON.parse(text(seen!.data)) as Record<string, unknown>;
        expect(raw.claimed_at).toBe(0);
        expect(raw.ttl_secs).toBe(0);
        // A stale release changes nothing.
        expect((await releaseLease(store, key, { lease: held, etag: created.etag })).success).toBe(false);
        // The successor takes over from the released record with epoch + 1.
        const successor = leaseBytes('successor', { epoch: 5 });
        const taken = await store.writeIfMatch(key, successor, released.etag);
        expect(taken.success).toBe(true);
        // The old holder releasing late must not touch the successor's record.
        expect((await releaseLease(store, key, { lease: held, etag: released.etag })).success).toBe(false);
        const now = await store.read(key);
        expect(isSameRecord(now!.data, successor, stamps)).toBe(true);
      });
    });

    describe('Rust interop', () => {
      it('stores the Rust interop fixture and reads it back byte-identically', async () => {
        const store = await open();
        for (const [name, fixture] of Object.entries(RUST_LEASE_FIXTURES)) {
          const key = store.keyFor(uniqueScope(`fixture-${name}`));
          const created = await store.writeIfNotExists(key, encoder.encode(fixture));
          expect(created.success).toBe(true);
          const stored = text((await store.read(key))!.data);
          if (stamps) {
            const nonce = (JSON.parse(stored) as { nonce?: unknown }).nonce;
            expect(typeof nonce).toBe('string');
            expect(stored).toBe(withNonce(fixture, nonce as string));
            // The Rust fields come first, byte-identical: serde readers see the same record.
            expect(stored.startsWith(fixture.slice(0, -1))).toBe(true);
          } else {
            expect(stored).toBe(fixture);
          }
          const decoded = decodeLeaseData(encoder.encode(stored));
          if (name === 'interop') expect(text(encodeLeaseData({ ...decoded, nonce: undefined }))).toBe(fixture);
        }
      });
    });

    describe('abort', () => {
      it('rejects with HADB_LEASE_ABORTED on an aborted signal and writes nothing', async () => {
        const store = await open();
        const key = store.keyFor(uniqueScope('abort'));
        const missing = store.keyFor(uniqueScope('abort-missing'));
        const body = leaseBytes('node-a');
        const created = await store.writeIfNotExists(key, body);
        if (!created.success) throw new Error('create failed');
        const controller = new AbortController();
        controller.abort(new Error('stop'));
        const signal = controller.signal;
        await expectLeaseError(() => store.read(key, { signal }), 'HADB_LEASE_ABORTED');
        await expectLeaseError(() => store.writeIfNotExists(missing, body, { signal }), 'HADB_LEASE_ABORTED');
        await expectLeaseError(
          () => store.writeIfMatch(key, leaseBytes('node-b'), created.etag, { signal }),
          'HADB_LEASE_ABORTED',
        );
        await expectLeaseError(() => store.delete(key, { signal }), 'HADB_LEASE_ABORTED');
        expect(await store.read(missing)).toBeNull();
        const read = await store.read(key);
        expect(read!.etag).toBe(created.etag);
        expect(isSameRecord(read!.data, body, stamps)).toBe(true);
      });

      it('completes normally with a signal that never fires', async () => {
        const store = await open();
        const key = store.keyFor(uniqueScope('abort-live'));
        const signal = new AbortController().signal;
        const created = await store.writeIfNotExists(key, leaseBytes('node-a'), { signal });
        if (!created.success) throw new Error('create failed');
        expect((await store.read(key, { signal }))!.etag).toBe(created.etag);
        expect((await store.writeIfMatch(key, leaseBytes('node-b'), created.etag, { signal })).success).toBe(true);
        await store.delete(key, { signal });
        expect(await store.read(key, { signal })).toBeNull();
      });
    });

    describe('lifecycle', () => {
      it('closes idempotently and then rejects every operation with HADB_LEASE_CLOSED', async () => {
        const store = await open();
        const key = store.keyFor(uniqueScope('close'));
        await store.close();
        await store.close();
        await expectLeaseError(() => store.read(key), 'HADB_LEASE_CLOSED');
        await expectLeaseError(() => store.writeIfNotExists(key, leaseBytes('a')), 'HADB_LEASE_CLOSED');
        await expectLeaseError(() => store.writeIfMatch(key, leaseBytes('a'), '1'), 'HADB_LEASE_CLOSED');
        await expectLeaseError(() => store.delete(key), 'HADB_LEASE_CLOSED');
      });

      it('supports `await using`', async () => {
        let escaped: LeaseStore | undefined;
        {
          await using store = await options.create();
          escaped = store;
          const key = store.keyFor(uniqueScope('using'));
          expect((await store.writeIfNotExists(key, leaseBytes('node-a'))).success).toBe(true);
        }
        await expectLeaseError(() => escaped!.read(escaped!.keyFor(uniqueScope('after'))), 'HADB_LEASE_CLOSED');
      });
    });

    // Registered only for revision stores (opaque etags have no order to check).
    if (options.capabilities.etagKind === 'revision')
      describe('revision etags', () => {
        it('are decimal u64 strings that grow with every write, across delete and re-create', async () => {
          const store = await open();
          const keys = [store.keyFor(uniqueScope('rev-a')), store.keyFor(uniqueScope('rev-b'))];
          const etags: bigint[][] = [[], []];
          const record = (i: number, etag: string) => {
            expect(etag).toMatch(/^[1-9][0-9]*$/);
            const value = BigInt(etag);
            expect(value).toBeLessThan(2n ** 64n);
            etags[i]!.push(value);
          };
          for (let i = 0; i < 2; i++) {
            const created = await store.writeIfNotExists(keys[i]!, leaseBytes('n'));
            if (!created.success) throw new Error('create failed');
            record(i, created.etag);
          }
          for (let step = 0; step < 6; step++) {
            const i = step % 2;
            const current = await store.read(keys[i]!);
            record(i, current!.etag);
            const updated = await store.writeIfMatch(keys[i]!, leaseBytes('n'), current!.etag);
            if (!updated.success) throw new Error('update failed');
            record(i, updated.etag);
          }
          await store.delete(keys[0]!);
          const recreated = await store.writeIfNotExists(keys[0]!, leaseBytes('n'));
          if (!recreated.success) throw new Error('re-create failed');
          record(0, recreated.etag);
          if (options.capabilities.monotonicEtags) {
            for (const series of etags) {
              const writes = series.filter((_, j) => j === 0 || series[j] !== series[j - 1]);
              for (let j = 1; j < writes.length; j++) expect(writes[j]!).toBeGreaterThan(writes[j - 1]!);
            }
          }
        });
      });
  });
}
