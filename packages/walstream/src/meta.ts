/**
 * The metadata entry of a walstream changeset. SQLite numbers pages from 1, so page id 0 is free:
 * every walstream changeset (incremental or snapshot) carries one entry with id 0 whose data is
 * the database size in pages after the changeset (u32 big-endian). Page `n ≥ 1` is applied at
 * byte offset `(n − 1) × pageSize`; after the pages, the file is truncated (or extended) to
 * `dbPages × pageSize`, which is how a follower follows a VACUUM that shrank the file.
 *
 * Fencing extension: a changeset written under a writer term carries 13 bytes instead of 4 —
 * `dbPages` (u32 BE), the writer's epoch (u64 BE) and a flags byte (bit 0: lineage claim, see
 * `fencing.ts`). Readers that know only the 4-byte form read the first 4 bytes and still work; a
 * 4-byte entry means epoch 0 (written without a term). The entry is inside the checksummed body,
 * so the epoch cannot be changed without breaking the chain.
 */
import type { PageEntry, PhysicalChangeset } from '@hadb/changeset';
import { corruptError } from './errors.js';

/** Page id of the metadata entry. */
export const META_PAGE_ID = 0n;
const META_SIZE = 4;
/** Size of the metadata entry that carries an epoch and flags. */
export const META_FENCED_SIZE = 13;
/** Flag bit of a lineage claim (a changeset that only reserves its sequence; never applied). */
export const META_FLAG_CLAIM = 1;

/** What a metadata entry says. */
export interface ChangesetMeta {
  /** Database size in pages after the changeset. */
  readonly dbPages: number;
  /** Epoch of the writer term (0 when written without a term). */
  readonly epoch: bigint;
  /** True for a lineage claim. */
  readonly claim: boolean;
}

/**
 * The metadata entry for a database of `dbPages` pages; with `epoch` (or `claim`), the 13-byte
 * fenced form.
 */
export function metaEntry(dbPages: number, epoch?: bigint, claim = false): PageEntry {
  if (epoch === undefined && !claim) {
    const data = new Uint8Array(META_SIZE);
    new DataView(data.buffer).setUint32(0, dbPages, false);
    return { pageId: META_PAGE_ID, data };
  }
  const data = new Uint8Array(META_FENCED_SIZE);
  const view = new DataView(data.buffer);
  view.setUint32(0, dbPages, false);
  view.setBigUint64(4, epoch ?? 0n, false);
  data[12] = claim ? META_FLAG_CLAIM : 0;
  return { pageId: META_PAGE_ID, data };
}

/** Reads every field of a metadata entry's data (epoch 0 and no claim for the 4-byte form). */
export function parseMetaFull(data: Uint8Array, where: string): ChangesetMeta {
  const dbPages = parseMeta(data, where);
  if (data.byteLength < META_FENCED_SIZE) return { dbPages, epoch: 0n, claim: false };
  const view = new DataView(data.buffer, data.byteOffset, META_FENCED_SIZE);
  return { dbPages, epoch: view.getBigUint64(4, false), claim: (data[12]! & META_FLAG_CLAIM) !== 0 };
}

/** The metadata of a changeset (its first entry), checking it is present. */
export function changesetMeta(cs: PhysicalChangeset, where: string): ChangesetMeta {
  const first = cs.pages[0];
  if (first === undefined || first.pageId !== META_PAGE_ID)
    throw corruptError(`${where}: changeset has no walstream metadata entry`);
  return parseMetaFull(first.data, where);
}

/** Reads the database size from a metadata entry's data. */
export function parseMeta(data: Uint8Array, where: string): number {
  if (data.byteLength < META_SIZE)
    throw corruptError(`${where}: metadata entry has ${data.byteLength} bytes, expected ${META_SIZE}`);
  return new DataView(data.buffer, data.byteOffset, META_SIZE).getUint32(0, false);
}

/** The database size a changeset declares (its metadata entry), checking it is present. */
export function changesetDbPages(cs: PhysicalChangeset, where: string): number {
  const first = cs.pages[0];
  if (first === undefined || first.pageId !== META_PAGE_ID)
    throw corruptError(`${where}: changeset has no walstream metadata entry`);
  return parseMeta(first.data, where);
}

/** Page size from a SQLite database header (page 1); `null` if the bytes are not a SQLite header. */
export function headerPageSize(page1: Uint8Array): number | null {
  if (page1.byteLength < 100) return null;
  if (Buffer.from(page1.buffer, page1.byteOffset, 16).toString('latin1') !== 'SQLite format 3\u0000') return null;
  const raw = (page1[16]! << 8) | page1[17]!;
  const size = raw === 1 ? 65536 : raw;
  if (size < 512 || size > 65536 || (size & (size - 1)) !== 0) return null;
  return size;
}

/** In-header database size in pages (offset 28). */
export function headerDbPages(page1: Uint8Array): number {
  return new DataView(page1.buffer, page1.byteOffset, 100).getUint32(28, false);
}
