import { lstat, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isStorageError } from '@hadb/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalStorageBackend } from '../src/index.js';

const roots: string[] = [];
afterEach(async () => {
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

async function open(options: { fsync?: boolean } = {}): Promise<LocalStorageBackend> {
  const root = await mkdtemp(join(tmpdir(), 'hadb-local-'));
  roots.push(root);
  return LocalStorageBackend.open({ root, ...options });
}

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return isStorageError(e) ? e.code : String(e);
  }
}

const bytes = (s: string) => new Uint8Array(Buffer.from(s));

describe('LocalStorageBackend specifics', () => {
  it('rejects bad options with HADB_STORAGE_INVALID_CONFIG before touching the disk', async () => {
    const root = join(tmpdir(), `hadb-never-created-${process.pid}-${Date.now()}`);
    for (const options of [
      { streamChunkBytes: 0 },
      { batchConcurrency: 0 },
      { lockTimeoutMs: -1 },
      { fsync: 'yes' as never },
    ]) {
      const error = await LocalStorageBackend.open({ root, ...options }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isStorageError(error, 'HADB_STORAGE_INVALID_CONFIG'), String(error)).toBe(true);
    }
    await expect(stat(root)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('stores key a/b as the plain file <root>/a/b and leaves no temp files', async () => {
    const b = await open();
    await b.put('wal/db/0001.hadbp', bytes('segment'));
    await b.putIfAbsent('x/_lease.json', bytes('{}'));
    expect(await readFile(join(b.root, 'wal/db/0001.hadbp'), 'utf8')).toBe('segment');
    expect(await readFile(join(b.root, 'x/_lease.json'), 'utf8')).toBe('{}');
    expect(await readdir(join(b.root, 'wal/db'))).toEqual(['0001.hadbp']);
  });

  it('gives 200 rapid rewrites of identical bytes 200 different etags', async () => {
    const b = await open({ fsync: false });
    const etags = new Set<string>();
    for (let i = 0; i < 200; i++) etags.add((await b.put('k', bytes('same'))).etag);
    expect(etags.size).toBe(200);
  });

  it('changes the etag when the file is modified behind its back', async () => {
    const b = await open();
    const { etag } = await b.put('k', bytes('v1'));
    await writeFile(join(b.root, 'k'), 'v2');
    const head = await b.head('k');
    expect(head?.etag).not.toBe(etag);
    expect(await b.putIfMatch('k', bytes('v3'), etag)).toEqual({ success: false });
  });

  it('rejects keys with reserved segments and hides internal files from list', async () => {
    const b = await open();
    for (const key of ['.hadb-locks/x', 'a/.hadb-tmp-1', '.hadb-x']) {
      expect(await code(b.put(key, bytes('x')))).toBe('HADB_STORAGE_INVALID_KEY');
      expect(await code(b.get(key))).toBe('HADB_STORAGE_INVALID_KEY');
    }
    expect(await code(b.list('.hadb-locks/'))).toBe('HADB_STORAGE_INVALID_KEY');
    await b.put('a/k', bytes('x'));
    await writeFile(join(b.root, 'a', '.hadb-tmp-123-abc-def'), 'partial');
    expect(await b.list('')).toEqual(['a/k']);
    expect(await b.list('a/')).toEqual(['a/k']);
  });

  it('refuses a key that collides with a directory of other keys, with HADB_STORAGE_REJECTED', async () => {
    const b = await open();
    await b.put('a/b', bytes('x'));
    expect(await code(b.put('a', bytes('y')))).toBe('HADB_STORAGE_REJECTED');
    expect(await code(b.putIfAbsent('a', bytes('y')))).toBe('HADB_STORAGE_REJECTED');
    expect(await code(b.put('a/b/c', bytes('y')))).toBe('HADB_STORAGE_REJECTED');
    expect(await b.get('a')).toBeNull();
    expect(await b.get('a/b/c')).toBeNull();
    await b.delete('a'); // a directory is not an object: nothing to delete
    expect(await b.list('')).toEqual(['a/b']);
  });

  it('removes directories that deletes leave empty, keeping the root', async () => {
    const b = await open();
    await b.put('d1/d2/k', bytes('x'));
    await b.put('d1/other', bytes('x'));
    await b.delete('d1/d2/k');
    expect(await readdir(join(b.root, 'd1'))).toEqual(['other']);
    await b.deleteMany(['d1/other']);
    expect((await readdir(b.root)).filter((n) => !n.startsWith('.hadb-'))).toEqual([]);
    await b.put('d1/d2/k', bytes('again'));
    expect(await b.list('')).toEqual(['d1/d2/k']);
  });

  it('follows no symbolic link on any operation: reads, writes and deletes through one are refused', async () => {
    const b = await open();
    const outside = await mkdtemp(join(tmpdir(), 'hadb-local-outside-'));
    roots.push(outside);
    await writeFile(join(outside, 'secret'), 'outside data');
    await symlink(join(outside, 'secret'), join(b.root, 'alias')); // a file link
    await symlink(outside, join(b.root, 'dirlink')); // a directory link
    await b.put('real', bytes('data'));
    await symlink(join(b.root, 'real'), join(b.root, 'inside')); // a link to an object inside

    const refused = async (action: () => Promise<unknown>): Promise<string> => {
      const error = await action().then(
        () => undefined,
        (e: unknown) => e,
      );
      return isStorageError(error) ? error.code : `not refused: ${String(error)}`;
    };
    const data = bytes('new');
    for (const key of ['alias', 'inside', 'dirlink/secret', 'dirlink/new']) {
      const results = [
        await refused(() => b.get(key)),
        await refused(() => b.head(key)),
        await refused(() => b.exists(key)),
        await refused(() => b.rangeGet(key, 0, 4)),
        await refused(() => b.getStream(key)),
        await refused(() => b.put(key, data)),
        await refused(() => b.putIfAbsent(key, data)),
        await refused(() => b.putIfMatch(key, data, 'x')),
        await refused(() =>
          b.putStream(
            key,
            (async function* () {
              yield data;
            })(),
          ),
        ),
        await refused(() => b.delete(key)),
      ];
      expect(results, key).toEqual(Array(results.length).fill('HADB_STORAGE_REJECTED'));
      const batch = await refused(() => b.putMany([{ key, data }]));
      expect(batch, key).toBe('HADB_STORAGE_PARTIAL_FAILURE');
      expect(await refused(() => b.deleteMany([key])), key).toBe('HADB_STORAGE_PARTIAL_FAILURE');
    }
    expect(await refused(() => b.list('dirlink/'))).toBe('HADB_STORAGE_REJECTED');
    // Links are not objects, and nothing outside the root was read, written or deleted.
    expect(await b.list('')).toEqual(['real']);
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('outside data');
    expect(await readdir(outside)).toEqual(['secret']);
    expect(Buffer.from((await b.get('real'))!.data).toString()).toBe('data');
  });

  it('opens only a directory, creating it by default', async () => {
    const base = await mkdtemp(join(tmpdir(), 'hadb-local-open-'));
    roots.push(base);
    const b = await LocalStorageBackend.open({ root: join(base, 'new', 'nested') });
    expect((await lstat(b.root)).isDirectory()).toBe(true);
    await writeFile(join(base, 'file'), 'x');
    expect(await code(LocalStorageBackend.open({ root: join(base, 'file') }))).toBe('HADB_STORAGE_IO');
    expect(await code(LocalStorageBackend.open({ root: join(base, 'missing'), createRoot: false }))).toBe(
      'HADB_STORAGE_IO',
    );
  });

  it('rejects negative or fractional ranges with HADB_STORAGE_REJECTED', async () => {
    const b = await open();
    await b.put('k', bytes('0123'));
    expect(await code(b.rangeGet('k', -1, 2))).toBe('HADB_STORAGE_REJECTED');
    expect(await code(b.rangeGet('k', 0, 1.5))).toBe('HADB_STORAGE_REJECTED');
    expect(await code(b.getStream('k', { start: -3 }))).toBe('HADB_STORAGE_REJECTED');
  });

  it('works with fsync disabled', async () => {
    const b = await open({ fsync: false });
    await b.putMany([
      { key: 'a', data: bytes('1') },
      { key: 'b/c', data: bytes('2') },
    ]);
    const r = await b.putStream(
      's',
      (async function* () {
        yield bytes('x');
      })(),
      { ifAbsent: true },
    );
    expect(r.success).toBe(true);
    expect(await b.list('')).toEqual(['a', 'b/c', 's']);
  });
});
