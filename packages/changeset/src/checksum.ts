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
  const batch = new HashBatch();
  batch.addU64(BigInt.asUintN(64, prevChecksum));
  for (const page of sortPages(pages)) {
    if (pageIdSize === 8) batch.addU64(BigInt.asUintN(64, page.pageId));
    else batch.addU32(Number(BigInt.asUintN(32, page.pageId)));
    batch.addU32(page.data.length >>> 0);
    batch.add(page.data);
  }
  return digestToU64(batch.digest());
}
