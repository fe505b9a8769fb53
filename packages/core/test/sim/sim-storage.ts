import {
  StorageError,
  type CasResult,
  type ListOptions,
  type ListPage,
  type ListPageOptions,
  type ObjectInfo,
  type ObjectStream,
  type OpOptions,
  type PutStreamResult,
  type StorageBackend,
  type StorageCapabilities,
  type StoredObject,
} from '@hadb/storage';
import type { Network, ServiceErrors } from './network.js';
import type { Host } from './scheduler.js';

const storageErrors: ServiceErrors = {
  aborted: (reason) => new StorageError('HADB_STORAGE_ABORTED', 'aborted', { cause: reason }),
  ambiguous: () => new StorageError('HADB_STORAGE_AMBIGUOUS', 'write outcome unknown'),
  unavailable: () => new StorageError('HADB_STORAGE_UNAVAILABLE', 'storage unavailable'),
};

/** Simulated durable object storage: nothing acknowledged is ever lost; conditional writes are atomic. */
export class SimObjectStore {
  readonly objects = new Map<string, { data: Uint8Array; etag: string }>();
  private etags = 0;
  /** Called for every object created by `putIfAbsent` (invariant checks). */
  onCreate: ((key: string, data: Uint8Array) => void) | undefined;

  get(key: string): StoredObject | null {
    const o = this.objects.get(key);
    return o === undefined ? null : { data: o.data, etag: o.etag };
  }

  putIfAbsent(key: string, data: Uint8Array): CasResult {
    if (this.objects.has(key)) return { success: false };
    const etag = `e${++this.etags}`;
    this.objects.set(key, { data: data.slice(), etag });
    this.onCreate?.(key, data);
    return { success: true, etag };
  }

  put(key: string, data: Uint8Array): { etag: string } {
    const etag = `e${++this.etags}`;
    this.objects.set(key, { data: data.slice(), etag });
    return { etag };
  }

  list(prefix: string, after: string | undefined): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix) && (after === undefined || k > after)).sort();
  }
}

function unsupported(): never {
  throw new StorageError('HADB_STORAGE_UNSUPPORTED', 'not simulated');
}

/** A host's client of the {@link SimObjectStore}, through the simulated network. */
export class SimStorageClient implements StorageBackend {
  readonly name = 'sim';
  readonly capabilities: StorageCapabilities = {
    atomicConditionalWrites: true,
    conditionalStreamingWrites: false,
    uniqueEtags: true,
  };
  private readonly host: Host;
  private readonly store: SimObjectStore;
  private readonly net: Network;

  constructor(host: Host, store: SimObjectStore, net: Network) {
    this.host = host;
    this.store = store;
    this.net = net;
  }

  get(key: string, options: OpOptions = {}): Promise<StoredObject | null> {
    return this.net.call(
      this.host,
      'storage.get',
      key,
      false,
      options.signal,
      () => this.store.get(key),
      storageErrors,
    );
  }

  async head(key: string, options: OpOptions = {}): Promise<ObjectInfo | null> {
    const o = await this.get(key, options);
    return o === null ? null : { size: o.data.length, etag: o.etag };
  }

  async exists(key: string, options: OpOptions = {}): Promise<boolean> {
    return (await this.get(key, options)) !== null;
  }

  put(key: string, data: Uint8Array, options: OpOptions = {}): Promise<{ readonly etag: string }> {
    return this.net.call(
      this.host,
      'storage.put',
      key,
      true,
      options.signal,
      () => this.store.put(key, data),
      storageErrors,
    );
  }

  putIfAbsent(key: string, data: Uint8Array, options: OpOptions = {}): Promise<CasResult> {
    return this.net.call(
      this.host,
      'storage.create',
      key,
      true,
      options.signal,
      () => this.store.putIfAbsent(key, data),
      storageErrors,
    );
  }

  putIfMatch(): Promise<CasResult> {
    return unsupported();
  }

  delete(key: string, options: OpOptions = {}): Promise<void> {
    return this.net.call(
      this.host,
      'storage.delete',
      key,
      true,
      options.signal,
      () => void this.store.objects.delete(key),
      storageErrors,
    );
  }

  rangeGet(): Promise<Uint8Array | null> {
    return unsupported();
  }

  list(prefix: string, options: ListOptions = {}): Promise<string[]> {
    return this.net.call(
      this.host,
      'storage.list',
      prefix,
      false,
      options.signal,
      () => this.store.list(prefix, options.after),
      storageErrors,
    );
  }

  async listPage(prefix: string, options: ListPageOptions = {}): Promise<ListPage> {
    return { keys: await this.list(prefix, options), nextAfter: undefined };
  }

  deleteMany(): Promise<number> {
    return unsupported();
  }

  putMany(): Promise<void> {
    return unsupported();
  }

  getStream(): Promise<ObjectStream | null> {
    return unsupported();
  }

  putStream(): Promise<PutStreamResult> {
    return unsupported();
  }

  async close(): Promise<void> {}

  async [Symbol.asyncDispose](): Promise<void> {}
}
