import { randomBytes } from 'node:crypto';
import type { GetStreamOptions, StorageBackend } from '@hadb/storage';
import { isStorageError } from '@hadb/storage';
import { MemStorageBackend } from '@hadb/storage-mem';
import { Prng } from '@hadb/testkit/storage';
import { describe, expect, it } from 'vitest';
import { CHUNK_BYTES, SEALED_CHUNK_BYTES } from '../src/layout.js';
import { encryptedStorage } from '../src/index.js';
import { encrypt, hybridPair, rejection, x25519Pair } from './helpers.js';

const pair = await x25519Pair();

/** Counts the bytes the wrapper pulls out of the inner backend. */
class CountingMem extends MemStorageBackend {
  bytesRead = 0;
  reads = 0;
  override async getStream(key: string, options?: GetStreamOptions) {
    const s = await super.getStream(key, options);
    if (s === null) return null;
    this.reads++;
    const self = this;
    async function* counted() {
      for await (const chunk of s!.body) {
        self.bytesRead += chunk.length;
        yield chunk;
      }
    }
    return { ...s, body: counted() };
  }
  override async get(key: string) {
    const o = await super.get(key);
    this.reads++;
    this.bytesRead += o?.data.length ?? 0;
    return o;
  }
  reset() {
    this.bytesRead = 0;
    this.reads = 0;
  }
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of body) parts.push(p);
  return Buffer.concat(parts);
}

describe('ranges map to 64 KiB chunks', () => {
  it('random ranges over a 1 MiB + 123 object match the plaintext (rangeGet and getStream)', async () => {
    const b = await encrypt(new MemStorageBackend(), pair);
    const plain = randomBytes(16 * CHUNK_BYTES + 123);
    await b.put('k', plain);
    const prng = new Prng(42);
    const edges = [
      0,
      1,
      CHUNK_BYTES - 1,
      CHUNK_BYTES,
      CHUNK_BYTES + 1,
      plain.length - 1,
      plain.length,
      plain.length + 5,
    ];
    const starts = [...edges, ...Array.from({ length: 40 }, () => Math.floor(prng.next() * plain.length))];
    for (const start of starts) {
      const length = Math.floor(prng.next() * 3 * CHUNK_BYTES);
      const expected = plain.subarray(Math.min(start, plain.length), Math.min(start + length, plain.length));
      expect(
        Buffer.from((await b.rangeGet('k', start, length))!).equals(expected),
        `rangeGet(${start}, ${length})`,
      ).toBe(true);
      const s = await b.getStream('k', { start, length });
      expect(s?.size).toBe(plain.length);
      expect((await collect(s!.body)).equals(expected), `getStream(${start}, ${length})`).toBe(true);
    }
  });

  it('reads only the chunks a range touches: one read in the first chunk, header + chunks elsewhere', async () => {
    const inner = new CountingMem();
    const b = await encrypt(inner as StorageBackend, pair);
    const plain = randomBytes(64 * CHUNK_BYTES); // 4 MiB
    await b.put('big', plain);
    const stored = (await inner.head('big'))!.size;

    inner.reset();
    expect(Buffer.from((await b.rangeGet('big', 100, 50))!).equals(plain.subarray(100, 150))).toBe(true);
    expect(inner.reads).toBe(1);
    expect(inner.bytesRead).toBeLessThanOrEqual(8 * 1024 + 16 + SEALED_CHUNK_BYTES);

    inner.reset();
    const at = 40 * CHUNK_BYTES - 10; // straddles chunks 39 and 40
    expect(Buffer.from((await b.rangeGet('big', at, 20))!).equals(plain.subarray(at, at + 20))).toBe(true);
    expect(inner.reads).toBe(2);
    expect(inner.bytesRead).toBeLessThanOrEqual(8 * 1024 + 2 * SEALED_CHUNK_BYTES);

    inner.reset();
    expect((await b.head('big'))?.size).toBe(plain.length);
    expect(inner.reads).toBe(1);
    expect(inner.bytesRead).toBeLessThanOrEqual(8 * 1024);

    inner.reset();
    const tail = await b.getStream('big', { start: plain.length - 5 });
    expect((await collect(tail!.body)).equals(plain.subarray(plain.length - 5))).toBe(true);
    expect(inner.bytesRead).toBeLessThanOrEqual(8 * 1024 + SEALED_CHUNK_BYTES);
    expect(inner.bytesRead).toBeLessThan(stored / 20);
  });

  it('a range read while the object is replaced returns one version (the chunk read is checked by etag)', async () => {
    const inner = new CountingMem();
    const b = await encrypt(inner as StorageBackend, pair);
    const a = Buffer.alloc(8 * CHUNK_BYTES, 0x61);
    const c = Buffer.alloc(8 * CHUNK_BYTES, 0x63);
    await b.put('v', a);
    const writes: Promise<unknown>[] = [];
    const results: Buffer[] = [];
    for (let i = 0; i < 30; i++) {
      writes.push(b.put('v', i % 2 === 0 ? c : a));
      results.push(Buffer.from((await b.rangeGet('v', 5 * CHUNK_BYTES - 3, 6))!));
    }
    await Promise.all(writes);
    for (const r of results) expect(r.equals(Buffer.alloc(6, 0x61)) || r.equals(Buffer.alloc(6, 0x63))).toBe(true);
  });

  it('when the object is replaced between the header read and the chunk read, the range is read again from the new version', async () => {
    let replaceBeforeChunkRead = 0;
    let replace: () => Promise<unknown> = async () => {};
    class Replacing extends MemStorageBackend {
      streams = 0;
      override async getStream(key: string, options?: GetStreamOptions) {
        this.streams++;
        if ((options?.start ?? 0) > 0 && replaceBeforeChunkRead > 0) {
          replaceBeforeChunkRead--;
          await replace();
        }
        return super.getStream(key, options);
      }
    }
    const inner = new Replacing();
    const b = await encrypt(inner as StorageBackend, pair);
    const size = 8 * CHUNK_BYTES;
    let fill = 0x61;
    replace = () => b.put('v', Buffer.alloc(size, ++fill));
    await b.put('v', Buffer.alloc(size, fill));
    replaceBeforeChunkRead = 1;
    inner.streams = 0;
    expect(Buffer.from((await b.rangeGet('v', 5 * CHUNK_BYTES - 3, 6))!)).toEqual(Buffer.alloc(6, 0x62));
    expect(inner.streams).toBe(4); // header, stale chunks (refused), header again, chunks
    replaceBeforeChunkRead = 1000;
    const error = await rejection(b.rangeGet('v', 5 * CHUNK_BYTES, 10));
    expect(isStorageError(error, 'HADB_STORAGE_UNAVAILABLE'), String(error)).toBe(true);
  });

  it('a header longer than the first 8 KiB read (eight hybrid post-quantum recipients, ~13 KiB) reads on every path', async () => {
    const pairs = await Promise.all(Array.from({ length: 8 }, () => hybridPair()));
    const inner = new CountingMem();
    const b = await encryptedStorage(inner as StorageBackend, {
      recipients: pairs.map((p) => p.recipient),
      identities: [pairs[7]!.identity],
    });
    const plain = randomBytes(3 * CHUNK_BYTES + 5);
    await b.put('k', plain);
    expect((await inner.head('k'))!.size - plain.length).toBeGreaterThan(12 * 1024);
    expect(Buffer.from((await b.get('k'))!.data).equals(plain)).toBe(true);
    expect((await b.head('k'))?.size).toBe(plain.length);
    expect(Buffer.from((await b.rangeGet('k', 10, 20))!).equals(plain.subarray(10, 30))).toBe(true);
    expect(
      Buffer.from((await b.rangeGet('k', 2 * CHUNK_BYTES + 1, 20))!).equals(
        plain.subarray(2 * CHUNK_BYTES + 1, 2 * CHUNK_BYTES + 21),
      ),
    ).toBe(true);
    expect((await collect((await b.getStream('k'))!.body)).equals(plain)).toBe(true);
    // Another recipient's identity reads it too.
    const other = await encryptedStorage(inner as StorageBackend, {
      recipients: [pairs[0]!.recipient],
      identities: [pairs[0]!.identity],
    });
    expect(Buffer.from((await other.get('k'))!.data).equals(plain)).toBe(true);
  }, 60_000);
});
