import { HashBatch, digestToU64 } from './hash-batch.js';
import type { PageEntry, PageIdSize } from './types.js';

/** Compares page ids numerically (for a stable sort). */
export function comparePageIds(a: PageEntry, b: PageEntry): number {
  return a.pageId < b.pageId ? -1 : a.pageId > b.pageId ? 1 : 0;
}

/** True if page ids never decrease. */
export function isSorted(pages: readonly PageEntry[]): boolean {
  for (let i = 1; i < pages.length; i++) {
    if ((pages[i] as PageEntry).pageId < (pages[i - 1] as PageEntry).pageId) return false;
  }
  return true;
}

/**
 * `pages` in ascending page-id order, keeping the given order of duplicate ids (a stable sort,
 * like Rust's `sort_by_key`). Returns `pages` itself when already sorted.
 */
export function sortPages(pages: readonly PageEntry[]): readonly PageEntry[] {
  return isSorted(pages) ? pages : [...pages].sort(comparePageIds);
}

/**
 * The `.hadbp` checksum: the first 8 bytes, read as a big-endian u64, of
 * `SHA-256(be64(prevChecksum) || for each page in ascending id order: id || be32(len) || data)`,
 * with ids written at `pageIdSize` bytes (a u32-width id keeps its low 32 bits, as in Rust).
 * Covers only `prevChecksum` and the pages: not magic, version, flags, page size, seq,
 * page count or `created_ms`.
 */
export function computeChecksum(prevChecksum: bigint, pageIdSize: PageIdSize, pages: readonly PageEntry[]): bigint {
  return checksumOfSorted(prevChecksum, pageIdSize, sortPages(pages));
}

/** {@link computeChecksum} of pages already in ascending id order (not checked). */
export function checksumOfSorted(prevChecksum: bigint, pageIdSize: PageIdSize, sorted: readonly PageEntry[]): bigint {
  const batch = new HashBatch();
  batch.addU64(prevChecksum);
  for (let i = 0; i < sorted.length; i++) {
    const page = sorted[i] as PageEntry;
    batch.addEntryHead(pageIdSize, page.pageId, page.data.length);
    batch.add(page.data);
  }
  return digestToU64(batch.digest());
}
