import { isStorageError } from '@hadb/storage';
import { describe, expect, it } from 'vitest';
import { ChangesetKind, formatKey, GENERATION_INCREMENTAL, GENERATION_SNAPSHOT, parseKey } from '../src/index.js';

describe('keys (spec §1.10)', () => {
  it('format_key physical / journal', () => {
    expect(formatKey('wal/', 'mydb', 0n, 1n, ChangesetKind.Physical)).toBe('wal/mydb/0000/0000000000000001.hadbp');
    expect(formatKey('wal/', 'mydb', 0n, 255n, ChangesetKind.Journal)).toBe('wal/mydb/0000/00000000000000ff.hadbj');
    expect(GENERATION_INCREMENTAL).toBe(0n);
    expect(GENERATION_SNAPSHOT).toBe(1n);
  });

  it('graphstream upload keys use the header first_seq in hex', () => {
    expect(formatKey('test/', 'db', 0n, 600n, 'hadbj')).toBe('test/db/0000/0000000000000258.hadbj');
    expect(formatKey('test/', 'db', 0n, 42n, 'hadbj')).toBe('test/db/0000/000000000000002a.hadbj');
    expect(formatKey('db/', 'mydb', 0n, 1000n, 'hadbj')).toBe('db/mydb/0000/00000000000003e8.hadbj');
  });

  it('generation wider than 4 hex digits, max seq, verbatim prefix', () => {
    expect(formatKey('', 'a', 0x10000n, (1n << 64n) - 1n, 'hadbp')).toBe('a/10000/ffffffffffffffff.hadbp');
    expect(formatKey('ha/prod/', 'my.db', 1, 2n, 'hadbp')).toBe('ha/prod/my.db/0001/0000000000000002.hadbp');
    expect(formatKey('backup-', 'x', 0n, 1n, 'hadbp')).toBe('backup-x/0000/0000000000000001.hadbp');
  });

  it('unsafe database names and prefixes are refused', () => {
    for (const db of ['', '..', '../x', 'a/b', 'a\\b', '.hidden', 'x'.repeat(129), 'a\u0000b']) {
      expect(() => formatKey('wal/', db, 0n, 1n, 'hadbp'), db).toThrow(
        expect.objectContaining({ code: 'HADB_STORAGE_INVALID_KEY' }),
      );
    }
    for (const prefix of ['/abs/', '../', 'a//b/', 'a/../b/']) {
      let error: unknown;
      try {
        formatKey(prefix, 'db', 0n, 1n, 'hadbp');
      } catch (err) {
        error = err;
      }
      expect(isStorageError(error, 'HADB_STORAGE_INVALID_KEY'), prefix).toBe(true);
    }
    expect(() => formatKey('wal/', 'db', 0n, -1n, 'hadbp')).toThrow();
    expect(() => formatKey('wal/', 'db', 0n, 1n << 64n, 'hadbp')).toThrow();
    expect(() => formatKey('wal/', 'db', 0n, 1n, 'txt' as never)).toThrow();
  });

  it('parseKey inverts formatKey and rejects everything else', () => {
    const key = formatKey('wal/', 'mydb', 1n, 0xabcn, 'hadbj');
    expect(parseKey('wal/', key)).toEqual({ db: 'mydb', generation: 1n, seq: 0xabcn, kind: 'hadbj' });
    expect(parseKey('wal/', 'wal/a/10000/ffffffffffffffff.hadbp')).toEqual({
      db: 'a',
      generation: 0x10000n,
      seq: (1n << 64n) - 1n,
      kind: 'hadbp',
    });
    for (const junk of [
      'other/mydb/0000/0000000000000001.hadbp',
      'wal/mydb/0000/1.hadbp',
      'wal/mydb/0000/000000000000000A.hadbp',
      'wal/mydb/000/0000000000000001.hadbp',
      'wal/mydb/00001/0000000000000001.hadbp',
      'wal/mydb/0000/0000000000000001.txt',
      'wal/..x/0000/0000000000000001.hadbp',
      'wal/mydb/0000/readme.txt',
      'wal/mydb/_epoch',
    ]) {
      expect(parseKey('wal/', junk), junk).toBeNull();
    }
  });
});
