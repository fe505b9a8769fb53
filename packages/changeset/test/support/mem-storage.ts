import {
  assertSafeKey,
  assertSafePrefix,
  throwIfAborted,
  type CasResult,
  type ListOptions,
  type ListPage,
  type ListPageOptions,
  type ObjectInfo,
  type ObjectStream,
  type OpOptions,
  type PutStreamResult,
  type StorageBackend,
  type StoredObject,
} from '@hadb/storage';

/**
 * A small, real in-memory StorageBackend for these tests: sorted listing with a strict
 * `after`, atomic CAS, etags that never repeat. `advisoryAfter` makes `list` ignore `after`
 * (as a backend may), `duplicateFirst` repeats the first listed key.
 */
export class MemStorage implements StorageBackend {
  readonly name = 'test-mem';
  readonly capabilities = { atomicConditionalWrites: true, conditionalStreamingWrites: true, uniqueEtags: true };
  readonly objects = new Map<string, { data: Uint8Array; etag: string }>();
  advisoryAfter = false;
  duplicateFirst = false;
  private counter = 0;

  private store(key: string, data: Uint8Array): string {
    const etag = String(++this.counter);
    this.objects.set(key, { data: data.slice(), etag });
    return etag;
  }

  /** Inserts raw bytes (junk keys, forged objects). */
  insert(key: string, data: Uint8Array): void {
    this.store(key, data);
  }

  async get(key: string, options?: OpOptions): Promise<StoredObject | null> {
    throwIfAborted(options?.signal);
    assertSafeKey(key);
    const o = this.objects.get(key);
    return o === undefined ? null : { data: o.data.slice(), etag: o.etag };
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const o = this.objects.get(assertSafeKey(key));
    return o === undefined ? null : { size: o.data.length, etag: o.etag };
  }

  async exists(key: string): Promise<boolean> {
    return this.objects.has(assertSafeKey(key));
  }

  async put(key: string, data: Uint8Array, options?: OpOptions): Promise<{ etag: string }> {
    throwIfAborted(options?.signal);
    return { etag: this.store(assertSafeKey(key), data) };
  }

  async putIfAbsent(key: string, data: Uint8Array, options?: OpOptions): Promise<CasResult> {
    throwIfAborted(options?.signal);
    if (this.objects.has(assertSafeKey(key))) return { success: false };
    return { success: true, etag: this.store(key, data) };
  }

  async putIfMatch(key: string, data: Uint8Array, etag: string): Promise<CasResult> {
    const o = this.objects.get(assertSafeKey(key));
    if (o === undefined || o.etag !== etag) return { success: false };
    return { success: true, etag: this.store(key, data) };
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(assertSafeKey(key));
  }

  async rangeGet(key: string, start: number, length: number): Promise<Uint8Array | null> {
    const o = this.objects.get(assertSafeKey(key));
    return o === undefined ? null : o.data.slice(start, start + length);
  }

  async list(prefix: string, options?: ListOptions): Promise<string[]> {
    throwIfAborted(options?.signal);
    assertSafePrefix(prefix);
    const after = this.advisoryAfter ? undefined : options?.after;
    const keys = [...this.objects.keys()]
      .filter((k) => k.startsWith(prefix) && (after === undefined || k > after))
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    if (this.duplicateFirst && keys.length > 0) keys.unshift(keys[0] as string);
    return keys;
  }

  async listPage(prefix: string, options?: ListPageOptions): Promise<ListPage> {
    return { keys: await this.list(prefix, options), nextAfter: undefined };
  }

  async deleteMany(keys: readonly string[]): Promise<number> {
    for (const k of keys) this.objects.delete(k);
    return keys.length;
  }

  async putMany(entries: Iterable<{ key: string; data: Uint8Array }>): Promise<void> {
    for (const { key, data } of entries) this.store(assertSafeKey(key), data);
  }

  async getStream(key: string): Promise<ObjectStream | null> {
    const o = this.objects.get(assertSafeKey(key));
    if (o === undefined) return null;
    const data = o.data;
    return {
      size: data.length,
      etag: o.etag,
      body: (async function* () {
        for (let i = 0; i < data.length; i += 1000) yield data.slice(i, i + 1000);
      })(),
    };
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array>, options?: { ifAbsent?: boolean }): Promise<PutStreamResult> {
    const parts: Uint8Array[] = [];
    for await (const part of body) parts.push(part.slice());
    const data = new Uint8Array(Buffer.concat(parts));
    if (options?.ifAbsent && this.objects.has(key)) return { success: false };
    return { success: true, etag: this.store(assertSafeKey(key), data), size: data.length };
  }

  async close(): Promise<void> {}

  async [Symbol.asyncDispose](): Promise<void> {}
}
