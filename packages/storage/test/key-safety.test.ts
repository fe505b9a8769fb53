import { describe, expect, it } from 'vitest';
import { assertSafeDbName, assertSafeKey, assertSafePrefix, isStorageError, keyUnder } from '../src/index.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isStorageError(e) ? e.code : 'other';
  }
  return undefined;
}

describe('key safety', () => {
  it.each(['mydb', 'a', 'db-1.prod_2', 'A'.repeat(128)])('accepts database name %s', (name) => {
    expect(assertSafeDbName(name)).toBe(name);
  });

  it.each(['', '.', '..', '-x', '_x', 'a/b', 'a\\b', 'a..b', 'a b', 'é', 'a\u0000', 'A'.repeat(129)])(
    'rejects database name %j',
    (name) => {
      expect(code(() => assertSafeDbName(name))).toBe('HADB_STORAGE_INVALID_KEY');
    },
  );

  it.each(['a', 'wal/mydb/0000/0000000000000001.hadbp', 'x/_lease.json', 'ünï/cödé'])('accepts key %s', (key) => {
    expect(assertSafeKey(key)).toBe(key);
  });

  it.each([
    '',
    '/abs',
    'a/../b',
    '..',
    'a/./b',
    'a//b',
    'a/',
    'a\\b',
    'a\u0000b',
    'a\nb',
    'a\u007fb',
    'k'.repeat(1025),
  ])('rejects key %j', (key) => {
    expect(code(() => assertSafeKey(key))).toBe('HADB_STORAGE_INVALID_KEY');
  });

  it('accepts prefixes ending in a slash and the empty prefix', () => {
    expect(assertSafePrefix('')).toBe('');
    expect(assertSafePrefix('wal/')).toBe('wal/');
    expect(assertSafePrefix('a/b/')).toBe('a/b/');
    expect(code(() => assertSafePrefix('/wal/'))).toBe('HADB_STORAGE_INVALID_KEY');
    expect(code(() => assertSafePrefix('../'))).toBe('HADB_STORAGE_INVALID_KEY');
  });

  it('keeps joined keys under their prefix', () => {
    expect(keyUnder('ha/', 'db/_lease.json')).toBe('ha/db/_lease.json');
    expect(keyUnder('', 'db')).toBe('db');
    expect(code(() => keyUnder('ha/', '../etc/passwd'))).toBe('HADB_STORAGE_INVALID_KEY');
    expect(code(() => keyUnder('ha/', '/x'))).toBe('HADB_STORAGE_INVALID_KEY');
    expect(code(() => keyUnder('ha', 'x'))).toBe('HADB_STORAGE_INVALID_KEY');
  });
});
