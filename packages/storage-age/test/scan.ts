import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeJournal } from '@hadb/changeset';

/** Every file below `root` (the local backend's whole directory: objects, locks, temporaries). */
export async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

/**
 * Whether `canary` is in `data`: in the raw bytes, or inside a `.hadbj` journal segment (whose
 * body is zstd-compressed, which would hide it from a raw search).
 */
export function contains(data: Uint8Array, canary: string): boolean {
  const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (raw.includes(canary)) return true;
  try {
    return decodeJournal(data).entries.some((e) => Buffer.from(e.payload).includes(canary));
  } catch {
    return false;
  }
}

/** The files below `root` whose bytes contain `canary`. */
export async function filesContaining(root: string, canary: string): Promise<string[]> {
  const hits: string[] = [];
  for (const file of await filesUnder(root)) if (contains(await readFile(file), canary)) hits.push(file);
  return hits;
}
