import { compareKeys } from '@hadb/storage';

/** One stored object version. `data` is never mutated after it is stored. */
export interface MemObject {
  readonly data: Uint8Array;
  readonly etag: string;
}

/**
 * The shared state behind one or more {@link MemStorageBackend}s: objects, their keys in UTF-8
 * byte order, and the etag counter. Several backends over one bucket (with different or equal
 * prefixes) behave like several clients of one object store.
 */
export class MemBucket {
  readonly #objects = new Map<string, MemObject>();
  readonly #sorted: string[] = [];
  #counter = 0;

  /** Number of objects in the bucket. */
  get size(): number {
    return this.#objects.size;
  }

  /** A new etag: the next value of a counter starting at 1, as a decimal string ("0" is never used). */
  nextEtag(): string {
    this.#counter += 1;
    return String(this.#counter);
  }

  get(key: string): MemObject | undefined {
    return this.#objects.get(key);
  }

  set(key: string, object: MemObject): void {
    if (!this.#objects.has(key)) this.#sorted.splice(this.#lowerBound(key), 0, key);
    this.#objects.set(key, object);
  }

  delete(key: string): boolean {
    if (!this.#objects.delete(key)) return false;
    this.#sorted.splice(this.#lowerBound(key), 1);
    return true;
  }

  /**
   * Up to `limit` keys starting with `prefix`, strictly after `after`, in UTF-8 byte order, and
   * whether more follow.
   */
  keys(prefix: string, after: string | undefined, limit: number): { keys: string[]; more: boolean } {
    let from = this.#lowerBound(prefix);
    if (after !== undefined && compareKeys(after, prefix) >= 0) {
      from = this.#lowerBound(after);
      if (this.#sorted[from] === after) from += 1;
    }
    const keys: string[] = [];
    for (let i = from; i < this.#sorted.length; i++) {
      const key = this.#sorted[i]!;
      if (!key.startsWith(prefix)) break;
      if (keys.length === limit) return { keys, more: true };
      keys.push(key);
    }
    return { keys, more: false };
  }

  /** First index whose key is >= `key`. */
  #lowerBound(key: string): number {
    let lo = 0;
    let hi = this.#sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.#sorted[mid]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
