import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { throwIfAborted } from '@hadb/io';
import { compareKeys, storageAborted } from '@hadb/storage';
import { errno } from './fs-errors.js';
import { RESERVED } from './fs-write.js';

// eslint-disable-next-line no-control-regex
const UNSAFE_NAME = /[\u0000-\u001f\u007f\\]/;

interface Entry {
  /** The key (files) or the key prefix ending in "/" (directories). */
  readonly sortKey: string;
  readonly dir: boolean;
}

async function entries(root: string, dirKey: string): Promise<Entry[]> {
  let dirents: Dirent[];
  try {
    dirents = await readdir(join(root, dirKey), { withFileTypes: true });
  } catch (error) {
    if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return [];
    throw error;
  }
  const out: Entry[] = [];
  for (const d of dirents) {
    if (d.name.startsWith(RESERVED) || d.name === '.' || d.name === '..' || UNSAFE_NAME.test(d.name)) continue;
    const key = dirKey + d.name;
    if (d.isDirectory()) out.push({ sortKey: `${key}/`, dir: true });
    else if (d.isFile()) out.push({ sortKey: key, dir: false });
    // Anything else (symbolic links included) is not an object: no symlink is ever followed.
  }
  return out.sort((a, b) => compareKeys(a.sortKey, b.sortKey));
}

/**
 * Up to `limit` keys under `root` that start with `prefix` and sort strictly after `after`, in
 * UTF-8 byte order, and whether more follow. Walks directories depth-first in key order (a
 * directory `d` holds exactly the keys starting with `d/`, a contiguous range), skipping whole
 * subtrees that lie before `after` or outside `prefix`, and stops as soon as the page is full.
 */
export async function walkPage(
  root: string,
  prefix: string,
  after: string | undefined,
  limit: number,
  signal: AbortSignal | undefined,
): Promise<{ keys: string[]; more: boolean }> {
  const keys: string[] = [];
  let more = false;

  const visit = async (dirKey: string): Promise<void> => {
    throwIfAborted(signal, storageAborted);
    for (const e of await entries(root, dirKey)) {
      if (more) return;
      const inPrefix = e.sortKey.startsWith(prefix) || prefix.startsWith(e.sortKey);
      if (!inPrefix && compareKeys(e.sortKey, prefix) > 0) return; // sorted: nothing later matches
      if (e.dir) {
        const p = e.sortKey;
        if (!p.startsWith(prefix) && !prefix.startsWith(p)) continue;
        if (after !== undefined && !after.startsWith(p) && compareKeys(p, after) < 0) continue;
        await visit(p);
      } else {
        if (!e.sortKey.startsWith(prefix)) continue;
        if (after !== undefined && compareKeys(e.sortKey, after) <= 0) continue;
        if (keys.length === limit) {
          more = true;
          return;
        }
        keys.push(e.sortKey);
      }
    }
  };

  await visit(prefix.slice(0, prefix.lastIndexOf('/') + 1));
  return { keys, more };
}
