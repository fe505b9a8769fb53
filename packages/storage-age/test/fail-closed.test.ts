import { inspect } from 'node:util';
import { isHadbError } from '@hadb/io';
import { isStorageError, type StorageBackend } from '@hadb/storage';
import { MemStorageBackend } from '@hadb/storage-mem';
import { Encrypter } from 'age-encryption';
import { describe, expect, it } from 'vitest';
import {
  EncryptedStorageBackend,
  encryptedStorage,
  isStorageAgeError,
  type StorageAgeErrorCode,
} from '../src/index.js';
import { CHUNK_BYTES, SEALED_CHUNK_BYTES, scanHeader } from '../src/layout.js';
import { bytes, encrypt, hybridPair, rejection, text, x25519Pair, type KeyPair } from './helpers.js';

const alice = await x25519Pair();
const bob = await x25519Pair();
const quantum = await hybridPair();
const SECRETS = [alice.identity, bob.identity, quantum.identity];
const seen: unknown[] = [];

/** Expects a StorageAgeError with `code`; remembers it for the key-material check at the end. */
async function expectAge(p: Promise<unknown>, code: StorageAgeErrorCode): Promise<void> {
  const error = await rejection(p);
  seen.push(error);
  expect(isStorageAgeError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
  expect(isHadbError(error, code)).toBe(true);
}

/** Every read path must refuse `key` with `code`. */
async function expectAllReads(b: StorageBackend, key: string, code: StorageAgeErrorCode): Promise<void> {
  await expectAge(b.get(key), code);
  await expectAge(b.head(key), code);
  await expectAge(b.rangeGet(key, 1, 10), code);
  await expectAge(b.rangeGet(key, 100_000, 10), code);
  await expectAge(
    (async () => {
      const s = await b.getStream(key);
      for await (const _ of s!.body);
    })(),
    code,
  );
}

function patterned(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + (i >> 9)) & 0xff);
}

async function pair(inner: StorageBackend, keys: KeyPair) {
  return encrypt(inner, keys);
}

describe('construction refuses bad keys (HADB_STORAGE_AGE_INVALID_CONFIG), naming no key', () => {
  const inner = new MemStorageBackend();
  const cases: [string, () => Promise<unknown>][] = [
    ['no recipients', () => encryptedStorage(inner, { recipients: [], identities: [alice.identity] })],
    ['recipients missing', () => encryptedStorage(inner, { identities: [alice.identity] } as never)],
    ['no identities', () => encryptedStorage(inner, { recipients: [alice.recipient], identities: [] })],
    [
      'a recipient that is not age',
      () => encryptedStorage(inner, { recipients: ['ssh-ed25519 AAAA'], identities: [alice.identity] }),
    ],
    [
      'a corrupted recipient',
      () =>
        encryptedStorage(inner, { recipients: [`${alice.recipient.slice(0, -3)}qqq`], identities: [alice.identity] }),
    ],
    [
      'a corrupted identity',
      () =>
        encryptedStorage(inner, { recipients: [alice.recipient], identities: [`${alice.identity.slice(0, -3)}QQQ`] }),
    ],
    [
      'an identity of another kind',
      () =>
        encryptedStorage(inner, { recipients: [alice.recipient], identities: ['-----BEGIN OPENSSH PRIVATE KEY-----'] }),
    ],
    [
      'mixed X25519 and hybrid recipients',
      () =>
        encryptedStorage(inner, {
          recipients: [alice.recipient, quantum.recipient],
          identities: [alice.identity, quantum.identity],
        }),
    ],
    [
      'no recipient of ours (could not read its own writes)',
      () => encryptedStorage(inner, { recipients: [bob.recipient], identities: [alice.identity] }),
    ],
    [
      'a tag recipient',
      () =>
        encryptedStorage(inner, {
          recipients: ['age1tag1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq'],
          identities: [alice.identity],
        }),
    ],
    [
      'acceptUnbound not a boolean',
      () =>
        encryptedStorage(inner, {
          recipients: [alice.recipient],
          identities: [alice.identity],
          acceptUnbound: 'yes' as never,
        }),
    ],
    [
      'no inner backend',
      () => encryptedStorage(undefined as never, { recipients: [alice.recipient], identities: [alice.identity] }),
    ],
  ];
  it.each(cases)('%s', async (_label, open) => {
    await expectAge(open(), 'HADB_STORAGE_AGE_INVALID_CONFIG');
  });
});

describe('reads fail closed', () => {
  it('plaintext stored around the wrapper is HADB_STORAGE_AGE_NOT_ENCRYPTED, never returned', async () => {
    const inner = new MemStorageBackend();
    const b = await pair(inner, alice);
    await inner.put('plain', bytes('SECRET-PLAINTEXT '.repeat(5000)));
    await inner.put('empty', new Uint8Array(0));
    await inner.put('short', bytes('age'));
    await inner.put('armored', bytes('-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n'));
    for (const key of ['plain', 'empty', 'short', 'armored'])
      await expectAllReads(b, key, 'HADB_STORAGE_AGE_NOT_ENCRYPTED');
    expect(await b.exists('plain')).toBe(true);
  });

  it('an object for another key holder is HADB_STORAGE_AGE_WRONG_KEY', async () => {
    const inner = new MemStorageBackend();
    const writer = await pair(inner, alice);
    const stranger = await pair(inner, bob);
    await writer.put('k', patterned(200_000));
    await expectAllReads(stranger, 'k', 'HADB_STORAGE_AGE_WRONG_KEY');
    expect((await writer.get('k'))?.data).toEqual(patterned(200_000));
  });

  it('an object copied or moved to another key is HADB_STORAGE_AGE_KEY_MISMATCH, also with acceptUnbound', async () => {
    const inner = new MemStorageBackend();
    const b = await pair(inner, alice);
    const lenient = await encrypt(inner, alice, { acceptUnbound: true });
    await b.put('db/0001.seg', patterned(150_000));
    await inner.put('db/0002.seg', (await inner.get('db/0001.seg'))!.data);
    await expectAllReads(b, 'db/0002.seg', 'HADB_STORAGE_AGE_KEY_MISMATCH');
    await expectAllReads(lenient, 'db/0002.seg', 'HADB_STORAGE_AGE_KEY_MISMATCH');
    expect((await b.get('db/0001.seg'))?.data).toEqual(patterned(150_000));
  });

  it('an age object without the key binding is HADB_STORAGE_AGE_UNBOUND unless acceptUnbound', async () => {
    const inner = new MemStorageBackend();
    const e = new Encrypter();
    e.addRecipient(alice.recipient);
    const plain = patterned(100_000);
    await inner.put('external', await e.encrypt(plain));
    await expectAllReads(await pair(inner, alice), 'external', 'HADB_STORAGE_AGE_UNBOUND');
    const lenient = await encrypt(inner, alice, { acceptUnbound: true });
    expect((await lenient.get('external'))?.data).toEqual(plain);
    expect(await lenient.rangeGet('external', 70_000, 5)).toEqual(plain.subarray(70_000, 70_005));
  });

  describe('tampering and truncation are HADB_STORAGE_AGE_CORRUPT', () => {
    const size = 3 * CHUNK_BYTES + 1000;
    const setup = async () => {
      const inner = new MemStorageBackend();
      const b = await pair(inner, alice);
      await b.put('k', patterned(size));
      const stored = Uint8Array.from((await inner.get('k'))!.data);
      const scan = scanHeader(stored, true);
      if (typeof scan !== 'object') throw new Error('no header');
      return { inner, b, stored, headerEnd: scan.end };
    };
    const flip = (data: Uint8Array, at: number) => {
      const copy = Uint8Array.from(data);
      copy[at] = copy[at]! ^ 0x01;
      return copy;
    };

    it('a changed header MAC', async () => {
      const { inner, b, stored, headerEnd } = await setup();
      await inner.put('k', flip(stored, headerEnd - 5));
      await expectAllReads(b, 'k', 'HADB_STORAGE_AGE_CORRUPT');
    });

    it('a changed key-binding stanza (the MAC covers it)', async () => {
      const { inner, b, stored } = await setup();
      const at = Buffer.from(stored).indexOf('hadb.storage-age/key ') + 'hadb.storage-age/key '.length + 3;
      const copy = Uint8Array.from(stored);
      copy[at] = copy[at] === 0x41 ? 0x42 : 0x41;
      await inner.put('k', copy);
      await expectAllReads(b, 'k', 'HADB_STORAGE_AGE_CORRUPT');
    });

    it('a removed key-binding stanza (the MAC covers it)', async () => {
      const { inner, b, stored } = await setup();
      const s = Buffer.from(stored);
      const from = s.indexOf('-> hadb.storage-age/key ');
      const to = s.indexOf('\n\n', from) + 2;
      await inner.put('k', Buffer.concat([s.subarray(0, from), s.subarray(to)]));
      await expectAllReads(b, 'k', 'HADB_STORAGE_AGE_CORRUPT');
    });

    it('a changed payload byte: whole reads fail; ranges over that chunk fail; ranges over intact chunks still authenticate', async () => {
      const { inner, b, stored, headerEnd } = await setup();
      const inChunk1 = headerEnd + 16 + SEALED_CHUNK_BYTES + 100;
      await inner.put('k', flip(stored, inChunk1));
      await expectAge(b.get('k'), 'HADB_STORAGE_AGE_CORRUPT');
      await expectAge(b.rangeGet('k', CHUNK_BYTES + 50, 10), 'HADB_STORAGE_AGE_CORRUPT');
      await expectAge(
        (async () => {
          for await (const _ of (await b.getStream('k'))!.body);
        })(),
        'HADB_STORAGE_AGE_CORRUPT',
      );
      expect(await b.rangeGet('k', 2 * CHUNK_BYTES + 5, 10)).toEqual(
        patterned(size).subarray(2 * CHUNK_BYTES + 5, 2 * CHUNK_BYTES + 15),
      );
    });

    it.each([
      ['one byte cut off the end', (s: Uint8Array) => s.subarray(0, s.length - 1)],
      ['the whole last chunk cut off (a chunk boundary)', (s: Uint8Array) => s.subarray(0, s.length - 1016)],
      ['one byte appended', (s: Uint8Array) => Buffer.concat([s, Buffer.from([0])])],
      ['a whole chunk appended', (s: Uint8Array) => Buffer.concat([s, Buffer.alloc(SEALED_CHUNK_BYTES)])],
      ['cut inside the payload nonce', (s: Uint8Array, h: number) => s.subarray(0, h + 8)],
      ['cut inside the header', (s: Uint8Array, h: number) => s.subarray(0, h - 20)],
      [
        'two chunks swapped',
        (s: Uint8Array, h: number) => {
          const p = h + 16;
          const c = Uint8Array.from(s);
          c.set(s.subarray(p + SEALED_CHUNK_BYTES, p + 2 * SEALED_CHUNK_BYTES), p);
          c.set(s.subarray(p, p + SEALED_CHUNK_BYTES), p + SEALED_CHUNK_BYTES);
          return c;
        },
      ],
    ])('%s', async (_label, mangle) => {
      const { inner, b, stored, headerEnd } = await setup();
      await inner.put('k', mangle(stored, headerEnd));
      await expectAge(b.get('k'), 'HADB_STORAGE_AGE_CORRUPT');
      await expectAge(
        (async () => {
          for await (const _ of (await b.getStream('k'))!.body);
        })(),
        'HADB_STORAGE_AGE_CORRUPT',
      );
    });
  });

  it('a recipient stanza changed so that no identity opens it is HADB_STORAGE_AGE_WRONG_KEY', async () => {
    const inner = new MemStorageBackend();
    const b = await pair(inner, alice);
    await b.put('k', bytes('hello'));
    const s = Buffer.from((await inner.get('k'))!.data);
    const at = s.indexOf('-> X25519 ') + '-> X25519 '.length + 2;
    s[at] = s[at] === 0x41 ? 0x42 : 0x41;
    await inner.put('k', s);
    await expectAge(b.get('k'), 'HADB_STORAGE_AGE_WRONG_KEY');
  });
});

describe('key rotation and several recipients', () => {
  it('rotating X25519 → hybrid post-quantum: new writes to the new key, old objects still read, the old key alone no longer reads new ones', async () => {
    const inner = new MemStorageBackend();
    const before = await pair(inner, alice);
    await before.put('old', bytes('written under the old key'));
    const after = await encryptedStorage(inner, {
      recipients: [quantum.recipient],
      identities: [quantum.identity, alice.identity],
    });
    await after.put('new', bytes('written under the new key'));
    expect(text((await after.get('old'))?.data)).toBe('written under the old key');
    expect(text((await after.get('new'))?.data)).toBe('written under the new key');
    const header = Buffer.from((await inner.get('new'))!.data).toString('latin1');
    expect(header).toContain('-> mlkem768x25519 ');
    expect(header).not.toContain('-> X25519 ');
    await expectAge(before.get('new'), 'HADB_STORAGE_AGE_WRONG_KEY');
    const newOnly = await encrypt(inner, quantum);
    await expectAge(newOnly.get('old'), 'HADB_STORAGE_AGE_WRONG_KEY');
    // Re-encrypting an old object under the new key is a read and a write through the new wrapper.
    await after.put('old', (await after.get('old'))!.data);
    expect(text((await newOnly.get('old'))?.data)).toBe('written under the old key');
  });

  it('several recipients: each identity reads alone', async () => {
    const inner = new MemStorageBackend();
    const both = await encryptedStorage(inner, {
      recipients: [alice.recipient, bob.recipient],
      identities: [alice.identity],
    });
    await both.put('shared', bytes('for both'));
    expect(text((await (await pair(inner, bob)).get('shared'))?.data)).toBe('for both');
    expect(text((await (await pair(inner, alice)).get('shared'))?.data)).toBe('for both');
  });
});

describe('what the inner backend sees', () => {
  it('head reports the plaintext size; the stored size adds the header, the nonce and 16 bytes per 64 KiB chunk', async () => {
    const inner = new MemStorageBackend();
    const b = await pair(inner, alice);
    for (const n of [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 5 * CHUNK_BYTES]) {
      const { etag } = await b.put('k', patterned(n));
      const stored = (await inner.head('k'))!;
      expect(await b.head('k')).toEqual({ size: n, etag });
      expect(stored.etag).toBe(etag);
      const scan = scanHeader((await inner.get('k'))!.data, true);
      const header = typeof scan === 'object' ? scan.end : -1;
      expect(stored.size).toBe(header + 16 + n + 16 * Math.max(1, Math.ceil(n / CHUNK_BYTES)));
    }
  });

  it('identical plaintexts are stored as different ciphertexts (fresh file key and nonce per write)', async () => {
    const inner = new MemStorageBackend();
    const b = await pair(inner, alice);
    await b.put('a', bytes('same'));
    await b.put('b', bytes('same'));
    expect(Buffer.from((await inner.get('a'))!.data).equals(Buffer.from((await inner.get('b'))!.data))).toBe(false);
  });

  it('putIfMatch with the etag get returned swaps; a stale etag is a conflict', async () => {
    const inner = new MemStorageBackend();
    const b = await pair(inner, alice);
    await b.put('lease', bytes('v1'));
    const { etag } = (await b.get('lease'))!;
    expect((await b.putIfMatch('lease', bytes('v2'), etag)).success).toBe(true);
    expect(await b.putIfMatch('lease', bytes('v3'), etag)).toEqual({ success: false });
    expect(text((await b.get('lease'))?.data)).toBe('v2');
  });

  it('contract errors keep their StorageError codes', async () => {
    const b = await pair(new MemStorageBackend(), alice);
    expect(isStorageError(await rejection(b.get('../x')), 'HADB_STORAGE_INVALID_KEY')).toBe(true);
    expect(isStorageError(await rejection(b.rangeGet('k', -1, 3)), 'HADB_STORAGE_REJECTED')).toBe(true);
    await b.close();
    expect(isStorageError(await rejection(b.get('k')), 'HADB_STORAGE_CLOSED')).toBe(true);
  });
});

describe('no key material anywhere', () => {
  it('toString, inspect and JSON of the wrapper show counts and kinds, not keys', async () => {
    const b = await encryptedStorage(new MemStorageBackend(), {
      recipients: [quantum.recipient],
      identities: [quantum.identity, alice.identity],
    });
    expect(b).toBeInstanceOf(EncryptedStorageBackend);
    const views = [
      String(b),
      `${b}`,
      inspect(b, { depth: 10, showHidden: true }),
      JSON.stringify(b),
      JSON.stringify({ b }),
    ];
    for (const view of views) {
      for (const secret of SECRETS) expect(view).not.toContain(secret);
      expect(view).not.toMatch(/AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]{20}/);
    }
    expect(String(b)).toBe('EncryptedStorageBackend(mem+age, KeyRing(1 hybrid recipient(s), 2 identity(ies)))');
    expect(Object.keys(b)).not.toContain('identities');
  });

  it('no error raised in this file carries an identity in its message, stack, cause chain or inspection', () => {
    expect(seen.length).toBeGreaterThan(40);
    for (const error of seen) {
      let text = inspect(error, { depth: 20, showHidden: true });
      for (let e: unknown = error; e != null; e = (e as { cause?: unknown }).cause) {
        text += `${String(e)}\n${(e as Error).stack ?? ''}\n${JSON.stringify(e)}`;
      }
      for (const secret of SECRETS) expect(text).not.toContain(secret);
      expect(text).not.toMatch(/AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]{20}/);
    }
  });
});
