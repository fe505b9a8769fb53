/** Writing changeset pages into a plain SQLite file (restore and follow share it). */
import { ftruncateSync, writeSync } from 'node:fs';
import type { PageEntry } from '@hadb/changeset';
import { corruptError } from './errors.js';
import { META_PAGE_ID, parseMeta } from './meta.js';

/**
 * Writes one changeset page at its offset (`(id − 1) × pageSize`); returns the database size
 * when the entry is the metadata entry, else `null`.
 */
export function writePage(fd: number, pageSize: number, page: PageEntry, where: string): number | null {
  if (page.pageId === META_PAGE_ID) return parseMeta(page.data, where);
  if (page.data.byteLength !== pageSize) {
    throw corruptError(`${where}: page ${page.pageId} has ${page.data.byteLength} bytes, expected ${pageSize}`);
  }
  const offset = (Number(page.pageId) - 1) * pageSize;
  let done = 0;
  while (done < page.data.byteLength) done += writeSync(fd, page.data, done, page.data.byteLength - done, offset + done);
  return null;
}

/** Sets the file to exactly `dbPages` pages. */
export function truncateTo(fd: number, pageSize: number, dbPages: number): void {
  ftruncateSync(fd, dbPages * pageSize);
}
