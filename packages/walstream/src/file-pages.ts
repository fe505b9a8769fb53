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
  while (done < page.data.byteLength)
    done += writeSync(fd, page.data, done, page.data.byteLength - done, offset + done);
  return null;
}

/** Sets the file to exactly `dbPages` pages. */
export function truncateTo(fd: number, pageSize: number, dbPages: number): void {
  ftruncateSync(fd, dbPages * pageSize);
}

/**
 * Writes pages that mostly arrive in ascending, contiguous order with few system calls: runs of
 * consecutive pages are gathered into one buffer (default 4 MiB) and written at once.
 */
export class PageRunWriter {
  readonly #buf: Buffer;
  #first = 0;
  #count = 0;
  /** Database size from the last metadata entry seen, or `null`. */
  dbPages: number | null = null;
  readonly #fd: number;
  readonly #pageSize: number;

  constructor(fd: number, pageSize: number, bufferBytes = 4 << 20) {
    this.#fd = fd;
    this.#pageSize = pageSize;
    this.#buf = Buffer.allocUnsafe(Math.max(pageSize, Math.floor(bufferBytes / pageSize) * pageSize));
  }

  add(page: PageEntry, where: string): void {
    if (page.pageId === META_PAGE_ID) {
      this.dbPages = parseMeta(page.data, where);
      return;
    }
    if (page.data.byteLength !== this.#pageSize) {
      throw corruptError(`${where}: page ${page.pageId} has ${page.data.byteLength} bytes, expected ${this.#pageSize}`);
    }
    const pgno = Number(page.pageId);
    if (
      this.#count > 0 &&
      (pgno !== this.#first + this.#count || (this.#count + 1) * this.#pageSize > this.#buf.length)
    )
      this.flush();
    if (this.#count === 0) this.#first = pgno;
    this.#buf.set(page.data, this.#count * this.#pageSize);
    this.#count++;
  }

  flush(): void {
    if (this.#count === 0) return;
    const len = this.#count * this.#pageSize;
    const offset = (this.#first - 1) * this.#pageSize;
    let done = 0;
    while (done < len) done += writeSync(this.#fd, this.#buf, done, len - done, offset + done);
    this.#count = 0;
  }
}
