import { StorageError } from './errors.js';

/** Database names: 1-128 characters of `[A-Za-z0-9._-]`, starting with a letter or digit. */
const DB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Longest key accepted (S3's limit is 1024 bytes of UTF-8). */
export const MAX_KEY_BYTES = 1024;

function invalid(what: string, reason: string): StorageError {
  // The offending value is not echoed: it may be attacker-controlled or contain control bytes.
  return new StorageError('HADB_STORAGE_INVALID_KEY', `${what} rejected: ${reason}`);
}

/**
 * Checks a database name against the allow-list (`[A-Za-z0-9][A-Za-z0-9._-]{0,127}`, and not
 * `.`/`..`-like). Returns the name; throws `HADB_STORAGE_INVALID_KEY` otherwise.
 */
export function assertSafeDbName(name: string): string {
  if (typeof name !== 'string' || !DB_NAME.test(name)) {
    throw invalid('database name', 'must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}');
  }
  if (name.includes('..')) throw invalid('database name', 'must not contain ".."');
  return name;
}

function checkSegments(what: string, value: string, allowEmptyLast: boolean): void {
  if (value.startsWith('/')) throw invalid(what, 'must not start with "/"');
  if (value.includes('\\')) throw invalid(what, 'must not contain a backslash');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw invalid(what, 'must not contain NUL or control characters');
  if (Buffer.byteLength(value, 'utf8') > MAX_KEY_BYTES) throw invalid(what, `longer than ${MAX_KEY_BYTES} bytes`);
  const segments = value.split('/');
  segments.forEach((segment, i) => {
    if (segment === '..' || segment === '.') throw invalid(what, 'must not contain "." or ".." segments');
    if (segment === '' && !(allowEmptyLast && i === segments.length - 1)) {
      throw invalid(what, 'must not contain empty segments');
    }
  });
}

/**
 * Checks an object key: non-empty, no leading `/`, no backslash, no NUL/control characters, no
 * `.`/`..`/empty segments, at most {@link MAX_KEY_BYTES}. Returns the key.
 */
export function assertSafeKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0) throw invalid('key', 'must be a non-empty string');
  checkSegments('key', key, false);
  return key;
}

/**
 * Checks a key prefix as used by `list` and as a namespace root: empty, or a safe path that may
 * end with `/`. Returns the prefix.
 */
export function assertSafePrefix(prefix: string): string {
  if (typeof prefix !== 'string') throw invalid('prefix', 'must be a string');
  if (prefix === '') return prefix;
  checkSegments('prefix', prefix, true);
  return prefix;
}

/**
 * Joins a namespace prefix (`""` or ending in `/`) with a relative key and checks that the result
 * is safe and still under `prefix`. Use it for every key built from outside input.
 */
export function keyUnder(prefix: string, relative: string): string {
  assertSafePrefix(prefix);
  if (prefix !== '' && !prefix.endsWith('/')) throw invalid('prefix', 'must be empty or end with "/"');
  const key = assertSafeKey(prefix + relative);
  if (!key.startsWith(prefix)) throw invalid('key', 'escapes its prefix');
  return key;
}
