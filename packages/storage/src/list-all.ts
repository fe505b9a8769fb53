import type { ListOptions, ListPage, ListPageOptions } from './backend.js';
import { compareKeys } from './compare-keys.js';
import { StorageError } from './errors.js';

/**
 * Builds a complete {@link StorageBackend.list} from `listPage`, following `nextAfter` until the
 * listing ends. Backends use it to implement `list`.
 */
export async function listAll(
  listPage: (prefix: string, options: ListPageOptions) => Promise<ListPage>,
  prefix: string,
  options: ListOptions = {},
): Promise<string[]> {
  const keys: string[] = [];
  let after = options.after;
  for (;;) {
    const page = await listPage(prefix, { after, signal: options.signal });
    keys.push(...page.keys);
    if (page.nextAfter === undefined) return keys;
    if (after !== undefined && compareKeys(page.nextAfter, after) <= 0) {
      throw new StorageError('HADB_STORAGE_PROTOCOL', 'listPage did not advance past its `after` key');
    }
    after = page.nextAfter;
  }
}
