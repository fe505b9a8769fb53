import { describe, expect, it } from 'vitest';
import {
  ChangesetKind,
  discoverAfter,
  discoverLatestSnapshot,
  discoverStrictPhysicalChain,
  downloadPhysical,
  encodePhysical,
  formatKey,
  GENERATION_INCREMENTAL,
  GENERATION_SNAPSHOT,
  isChangesetError,
  newPhysical,
  uploadPhysical,
  uploadPhysicalSnapshot,
  type PhysicalChangeset,
} from '../src/index.js';
import { MemStorageBackend } from '@hadb/storage-mem';
import { withFaults } from '@hadb/testkit/storage';
import { rejection } from '@hadb/testkit';

// Counterparts of hadb-changeset/src/storage.rs tests (spec §1.13).
const makeCs = (seq: bigint, prev: bigint): PhysicalChangeset =>
  newPhysical(seq, prev, 8, 262144, [{ pageId: seq - 1n, data: new Uint8Array(32).fill(Number(seq & 0xffn)) }]);

describe('storage helpers', () => {
  it('upload/download roundtrip (incremental and snapshot)', async () => {
    const store = memStore();
    const cs = makeCs(1n, 0n);
    const up = await uploadPhysical(store, 'test/', 'mydb', cs);
    expect(up.key).toBe(formatKey('test/', 'mydb', GENERATION_INCREMENTAL, 1n, 'hadbp'));
    expect(await downloadPhysical(store, up.key)).toEqual(cs);
    const snap = await uploadPhysicalSnapshot(store, 'test/', 'mydb', cs);
    expect(snap.key).toBe(formatKey('test/', 'mydb', GENERATION_SNAPSHOT, 1n, 'hadbp'));
    expect(await downloadPhysical(store, snap.key)).toEqual(cs);
  });

  it('incremental uploads never overwrite; identical retries succeed', async () => {
    const store = memStore();
    const cs = makeCs(1n, 0n);
    const first = await uploadPhysical(store, 'test/', 'mydb', cs);
    const retry = await uploadPhysical(store, 'test/', 'mydb', cs);
    expect(retry).toEqual(first);
    const other = newPhysical(1n, 0n, 8, 262144, [{ pageId: 9n, data: new Uint8Array(1) }]);
    const err = await rejection(uploadPhysical(store, 'test/', 'mydb', other));
    expect(isChangesetError(err, 'HADB_CHANGESET_SEQUENCE_EXISTS')).toBe(true);
    expect(err.key).toBe(first.key);
    expect(await downloadPhysical(store, first.key)).toEqual(cs);
  });

  it('discover: empty, after 0, partial, sorted', async () => {
    const store = memStore();
    expect(await discoverAfter(store, 'test/', 'mydb', 0n, 'hadbp')).toEqual([]);
    for (const seq of [5n, 2n, 4n, 1n, 3n]) await uploadPhysical(store, 'test/', 'mydb', makeCs(seq, 0n));
    expect((await discoverAfter(store, 'test/', 'mydb', 0n, 'hadbp')).map((d) => d.seq)).toEqual([1n, 2n, 3n, 4n, 5n]);
    const partial = await discoverAfter(store, 'test/', 'mydb', 3n, ChangesetKind.Physical);
    expect(partial.map((d) => d.seq)).toEqual([4n, 5n]);
    expect(partial[0]).toEqual({ key: 'test/mydb/0000/0000000000000004.hadbp', seq: 4n, kind: 'hadbp' });
  });

  it('filters stale keys when the backend treats `after` as advisory', async () => {
    const store = memStore();
    for (let seq = 1n; seq <= 5n; seq++) await uploadPhysical(store, 'test/', 'mydb', makeCs(seq, 0n));
    store.setFaults({ listIgnoresAfter: true });
    expect((await discoverAfter(store, 'test/', 'mydb', 3n, 'hadbp')).map((d) => d.seq)).toEqual([4n, 5n]);
  });

  it('ignores junk keys; 100 changesets after 50 start at 51', async () => {
    const store = memStore();
    await uploadPhysical(store, 'test/', 'mydb', makeCs(1n, 0n));
    await store.put('test/mydb/0000/readme.txt', new Uint8Array(10));
    await store.put('test/mydb/0000/not-hex.hadbp', new Uint8Array(10));
    await store.put('test/mydb/0000/sub/0000000000000002.hadbp', new Uint8Array(10));
    await store.put('test/mydb/_epoch', new Uint8Array(1));
    expect(await discoverAfter(store, 'test/', 'mydb', 0n, 'hadbp')).toHaveLength(1);

    const many = memStore();
    for (let seq = 1n; seq <= 100n; seq++) await uploadPhysical(many, 'test/', 'mydb', makeCs(seq, 0n));
    const after50 = await discoverAfter(many, 'test/', 'mydb', 50n, 'hadbp');
    expect(after50).toHaveLength(50);
    expect(after50[0]?.seq).toBe(51n);
  });

  it('isolates databases and kinds; prefixes with slashes work', async () => {
    const store = memStore();
    const a = newPhysical(1n, 0n, 8, 262144, [{ pageId: 0n, data: new Uint8Array(32).fill(0xaa) }]);
    const b = newPhysical(1n, 0n, 8, 262144, [{ pageId: 0n, data: new Uint8Array(32).fill(0xbb) }]);
    await uploadPhysical(store, 'test/', 'db_a', a);
    await uploadPhysical(store, 'test/', 'db_b', b);
    const found = await discoverAfter(store, 'test/', 'db_a', 0n, 'hadbp');
    expect(found).toHaveLength(1);
    expect((await downloadPhysical(store, found[0]!.key)).pages[0]?.data[0]).toBe(0xaa);

    await store.put('test/db_a/0000/0000000000000001.hadbj', new Uint8Array(10));
    const physical = await discoverAfter(store, 'test/', 'db_a', 0n, 'hadbp');
    expect(physical.map((d) => d.kind)).toEqual(['hadbp']);
    expect((await discoverAfter(store, 'test/', 'db_a', 0n, 'hadbj')).map((d) => d.kind)).toEqual(['hadbj']);

    await uploadPhysical(store, 'ha/prod/', 'my.db', makeCs(1n, 0n));
    expect(await discoverAfter(store, 'ha/prod/', 'my.db', 0n, 'hadbp')).toHaveLength(1);
  });

  it('latest snapshot (generation 0001 only)', async () => {
    const store = memStore();
    expect(await discoverLatestSnapshot(store, 'test/', 'mydb', 'hadbp')).toBeNull();
    await uploadPhysicalSnapshot(store, 'test/', 'mydb', makeCs(1n, 0n));
    await uploadPhysicalSnapshot(store, 'test/', 'mydb', makeCs(5n, 0n));
    await store.put('test/mydb/0002/0000000000000009.hadbp', new Uint8Array(1));
    const found = await discoverLatestSnapshot(store, 'test/', 'mydb', 'hadbp');
    expect(found?.seq).toBe(5n);
    expect(found?.key).toBe('test/mydb/0001/0000000000000005.hadbp');
  });

  it('download of a missing key, and of a corrupt object', async () => {
    const store = memStore();
    const missing = await rejection(downloadPhysical(store, 'no/such/key.hadbp'));
    expect(isChangesetError(missing, 'HADB_CHANGESET_NOT_FOUND')).toBe(true);
    expect(missing.message).toBe('changeset key no/such/key.hadbp not found');

    const bytes = encodePhysical(makeCs(1n, 0n));
    bytes[bytes.length - 1]! ^= 1;
    await store.put('k/0000000000000001.hadbp', bytes);
    const corrupt = await rejection(downloadPhysical(store, 'k/0000000000000001.hadbp'));
    expect(isChangesetError(corrupt, 'HADB_CHANGESET_CHECKSUM_MISMATCH')).toBe(true);
    expect(corrupt.message).toMatch(
      /^failed to decode changeset at k\/0000000000000001\.hadbp: checksum mismatch: expected 0x[0-9a-f]{16}, got 0x[0-9a-f]{16}$/,
    );
  });

  describe('strict physical chain', () => {
    const base = { seq: 10n, checksum: 111n };

    it('empty returns the base', async () => {
      expect(await discoverStrictPhysicalChain(memStore(), 'test/', 'mydb', { seq: 7n, checksum: 42n })).toEqual({
        seq: 7n,
        checksum: 42n,
        count: 0,
      });
    });

    it('validates a contiguous checksum chain', async () => {
      const store = memStore();
      const cs11 = makeCs(11n, base.checksum);
      const cs12 = makeCs(12n, cs11.checksum);
      await uploadPhysical(store, 'test/', 'mydb', cs11);
      await uploadPhysical(store, 'test/', 'mydb', cs12);
      await uploadPhysical(store, 'test/', 'mydb', makeCs(9n, 0n)); // before the base: ignored
      expect(await discoverStrictPhysicalChain(store, 'test/', 'mydb', base)).toEqual({
        seq: 12n,
        checksum: cs12.checksum,
        count: 2,
      });
    });

    it('rejects a gap', async () => {
      const store = memStore();
      await uploadPhysical(store, 'test/', 'mydb', makeCs(12n, base.checksum));
      const err = await rejection(discoverStrictPhysicalChain(store, 'test/', 'mydb', base));
      expect(isChangesetError(err, 'HADB_CHANGESET_SEQUENCE_GAP')).toBe(true);
      expect(err.message).toBe(
        'mydb: non-contiguous live physical changeset sequence: expected 11, found 12 at test/mydb/0000/000000000000000c.hadbp',
      );
    });

    it('rejects a wrong prev checksum', async () => {
      const store = memStore();
      await uploadPhysical(store, 'test/', 'mydb', makeCs(11n, 999n));
      const err = await rejection(discoverStrictPhysicalChain(store, 'test/', 'mydb', base));
      expect(isChangesetError(err, 'HADB_CHANGESET_CHAIN_BROKEN')).toBe(true);
      expect(err.message).toBe(
        'mydb: checksum chain break at seq 11 (test/mydb/0000/000000000000000b.hadbp): chain broken: changeset prev_checksum 0x00000000000003e7 does not match expected 0x000000000000006f',
      );
    });

    it('rejects a key/header seq mismatch', async () => {
      const store = memStore();
      await store.put(formatKey('test/', 'mydb', 0n, 11n, 'hadbp'), encodePhysical(makeCs(99n, base.checksum)));
      const err = await rejection(discoverStrictPhysicalChain(store, 'test/', 'mydb', base));
      expect(isChangesetError(err, 'HADB_CHANGESET_KEY_MISMATCH')).toBe(true);
      expect(err.message).toBe(
        'mydb: changeset key/header seq mismatch at test/mydb/0000/000000000000000b.hadbp: key 11, header 99',
      );
    });

    it('rejects duplicates in the listing', async () => {
      const store = memStore();
      const cs11 = makeCs(11n, base.checksum);
      await uploadPhysical(store, 'test/', 'mydb', cs11);
      await uploadPhysical(store, 'test/', 'mydb', makeCs(12n, cs11.checksum));
      store.setFaults({ listDuplicatesFirst: true });
      const err = await rejection(discoverStrictPhysicalChain(store, 'test/', 'mydb', base));
      expect(isChangesetError(err, 'HADB_CHANGESET_DUPLICATE_SEQ')).toBe(true);
      expect(err.message).toBe(
        'mydb: duplicate live physical changeset seq 11 at test/mydb/0000/000000000000000b.hadbp',
      );
    });

    it('treats two spellings of one seq as a duplicate', async () => {
      const store = memStore();
      const cs11 = makeCs(11n, base.checksum);
      await uploadPhysical(store, 'test/', 'mydb', cs11);
      await store.put('test/mydb/0000/b.hadbp', encodePhysical(cs11));
      const err = await rejection(discoverStrictPhysicalChain(store, 'test/', 'mydb', base));
      expect(isChangesetError(err, 'HADB_CHANGESET_DUPLICATE_SEQ')).toBe(true);
    });
  });
});

/** A real in-memory backend whose listing quirks a test can switch on (`setFaults`). */
function memStore() {
  return withFaults(new MemStorageBackend(), { seed: 1 });
}
