import { comparePageIds } from './checksum.js';
import { HADBP_HEADER_SIZE, HADBP_TRAILER_SIZE, checkEncodableHeader, writePhysicalHeader } from './physical.js';
import type { PageEntry, PhysicalChangeset } from './types.js';
import { assertBytes, assertPageIdFits } from './validate.js';

/**
 * Encodes a changeset as a gather list, without copying page data: the concatenation of the
 * returned chunks is byte-identical to `encodePhysical(cs)`. The list alternates between views
 * of one small buffer holding the header, the 12- or 8-byte entry heads and the trailer, and
 * the caller's own page data (the same `Uint8Array` objects as in `cs.pages`, in ascending id
 * order; empty pages add no chunk). The only per-byte work of producing a changeset is then the
 * checksum `newPhysical` computes; the bytes are copied once, by whatever consumes the list
 * (`filehandle.writev(chunks)`, `Buffer.concat(chunks)`, a socket, `storage.putStream`).
 *
 * Do not modify page data until the chunks have been consumed. `cs.checksum` is written as
 * stored, as by `encodePhysical`. Errors as `encodedPhysicalSize`: `INVALID_ARGUMENT` if
 * `header.pageCount !== pages.length` or a field is out of range, `PAGE_ID_MISMATCH` if an id
 * does not fit the width.
 */
export function encodePhysicalChunks(cs: PhysicalChangeset): Uint8Array[] {
  checkEncodableHeader(cs);
  const out = gather(cs, cs.pages);
  return out ?? (gather(cs, [...cs.pages].sort(comparePageIds)) as Uint8Array[]);
}

/** The chunks of `cs` with `pages` in the given order, or `undefined` if their ids do not ascend. */
function gather(cs: PhysicalChangeset, pages: readonly PageEntry[]): Uint8Array[] | undefined {
  const width = cs.header.pageIdSize;
  const table = new Uint8Array(HADBP_HEADER_SIZE + pages.length * (width + 4) + HADBP_TRAILER_SIZE);
  const view = new DataView(table.buffer, table.byteOffset, table.length);
  const chunks: Uint8Array[] = [];
  let ascending = true;
  let last = -1n;
  let from = 0;
  let pos = HADBP_HEADER_SIZE;
  for (let i = 0; i < pages.length; i++) {
    const page = pages[i] as PageEntry;
    const pageId = assertPageIdFits(width, page?.pageId);
    const data = assertBytes('page data', page.data);
    if (pageId < last) ascending = false;
    last = pageId;
    if (!ascending) continue; // keep checking the rest; the caller retries in sorted order
    if (width === 8) view.setBigUint64(pos, pageId, false);
    else view.setUint32(pos, Number(pageId), false);
    view.setUint32(pos + width, data.length, false);
    pos += width + 4;
    if (data.length > 0) {
      chunks.push(table.subarray(from, pos), data);
      from = pos;
    }
  }
  if (!ascending) return undefined;
  writePhysicalHeader(table, cs.header);
  view.setBigUint64(pos, cs.checksum, false);
  chunks.push(table.subarray(from, pos + HADBP_TRAILER_SIZE));
  return chunks;
}
