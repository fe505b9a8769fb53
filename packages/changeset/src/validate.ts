import { ChangesetError } from './errors.js';
import { U32_MAX, U64_MAX, type PageIdSize } from './types.js';

/** Throws `INVALID_ARGUMENT` unless `value` is a bigint in `[0, 2^64)`. */
export function assertU64(name: string, value: unknown): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > U64_MAX) {
    throw ChangesetError.invalidArgument(`${name} must be a bigint in [0, 2^64)`);
  }
  return value;
}

/** Throws `INVALID_ARGUMENT` unless `value` is a bigint in the i64 range. */
export function assertI64(name: string, value: unknown): bigint {
  if (typeof value !== 'bigint' || BigInt.asIntN(64, value) !== value) {
    throw ChangesetError.invalidArgument(`${name} must be a bigint in the i64 range`);
  }
  return value;
}

/** Throws `INVALID_ARGUMENT` unless `value` is an integer in `[0, 2^32)`. */
export function assertU32(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > U32_MAX) {
    throw ChangesetError.invalidArgument(`${name} must be an integer in [0, 2^32)`);
  }
  return value;
}

/** Throws `INVALID_ARGUMENT` unless `value` is an integer in `[0, 255]`. */
export function assertU8(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 255) {
    throw ChangesetError.invalidArgument(`${name} must be an integer in [0, 255]`);
  }
  return value;
}

/** Throws `INVALID_PAGE_ID_SIZE` unless `value` is 4 or 8. */
export function assertPageIdSize(value: unknown): PageIdSize {
  if (value !== 4 && value !== 8) {
    throw ChangesetError.invalidPageIdSize(typeof value === 'number' && Number.isInteger(value) ? value : -1);
  }
  return value;
}

/** Throws `INVALID_ARGUMENT` unless `value` is a Uint8Array (Buffers included). */
export function assertBytes(name: string, value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw ChangesetError.invalidArgument(`${name} must be a Uint8Array`);
  return value;
}

/**
 * The Rust panic "page_id variant mismatch": a page id that does not fit the declared width.
 * In Rust the id carries its own variant; here a bigint is a "U32" id when it fits in 32 bits.
 */
export function assertPageIdFits(pageIdSize: PageIdSize, pageId: unknown): bigint {
  if (typeof pageId !== 'bigint' || BigInt.asUintN(64, pageId) !== pageId) {
    throw ChangesetError.invalidArgument('page id must be a bigint in [0, 2^64)');
  }
  if (pageIdSize === 4 && BigInt.asUintN(32, pageId) !== pageId) {
    throw new ChangesetError(
      'HADB_CHANGESET_PAGE_ID_MISMATCH',
      `page_id variant mismatch: declared U32 but got U64(${pageId})`,
      { pageIdSize },
    );
  }
  return pageId;
}
