import { decodeJournalHeader, parseKey, type ChangesetKind } from '@hadb/changeset';
import type { StorageBackend } from '@hadb/storage';
import { CliError } from './errors.js';
import { mapLimit } from './map-limit.js';

/** A changeset object found in storage. */
export interface StoredObject {
  readonly key: string;
  readonly db: string;
  /** 0 = incremental, 1 = snapshot, 0x10+ = compaction levels (walrust). */
  readonly generation: number;
  /** `.hadbp` header seq, or `.hadbj` first seq (both are the key's seq). */
  readonly seq: bigint;
  readonly kind: ChangesetKind;
}

/** Which replication engine wrote a database, from its objects. */
export type Engine = 'duckblock' | 'sqlite' | 'graphstream' | 'unknown';

/** A stored object with what its header says. */
export interface ObjectDetails extends StoredObject {
  readonly size: number;
  /** When the writer created it (header `created_ms`), or `null` when the header carries 0. */
  readonly createdMs: number | null;
  /** `.hadbp`: 8 = DuckDB blocks (duckblock), 4 = SQLite pages. */
  readonly pageIdSize: number | null;
  /** `.hadbp` page count (data pages plus markers). */
  readonly pageCount: number | null;
  /** `.hadbp` chain link: the `prev_checksum`; for a snapshot, the chain checksum at its seq. */
  readonly prevChecksum: bigint | null;
  /** `.hadbj` last seq. */
  readonly lastSeq: bigint | null;
  /** The writer's leader epoch (duckblock epoch marker), `null` when not found in the first bytes read. */
  readonly epoch: bigint | null;
}

/** Concurrent header reads. */
const HEADER_CONCURRENCY = 16;
/** Bytes read from a `.hadbp` to find a duckblock epoch marker (markers sort among low page ids). */
const EPOCH_PROBE_BYTES = 64 * 1024;

/** `(a, b) => a - b` for bigint seqs. */
export function bySeq(a: { readonly seq: bigint }, b: { readonly seq: bigint }): number {
  return a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0;
}

/**
 * Database names under the storage root: every first path component that holds a changeset
 * object, a lease (`_lease.json`) or registry entries (`_nodes/`).
 */
export async function listDatabases(
  storage: StorageBackend,
  options: { signal?: AbortSignal } = {},
): Promise<string[]> {
  const keys = await storage.list('', { signal: options.signal });
  const dbs = new Set<string>();
  for (const key of keys) {
    const slash = key.indexOf('/');
    if (slash <= 0) continue;
    const db = key.slice(0, slash);
    const rest = key.slice(slash + 1);
    if (rest === '_lease.json' || rest.startsWith('_nodes/') || parseKey('', key) !== null) dbs.add(db);
  }
  return [...dbs].sort();
}

/** Every changeset object of `db`, ascending by generation then seq. */
export async function listObjects(
  storage: StorageBackend,
  db: string,
  options: { signal?: AbortSignal } = {},
): Promise<StoredObject[]> {
  const keys = await storage.list(`${db}/`, { signal: options.signal });
  const out: StoredObject[] = [];
  for (const key of keys) {
    const parts = parseKey('', key);
    if (parts === null || parts.db !== db) continue;
    out.push({ key, db, generation: Number(parts.generation), seq: parts.seq, kind: parts.kind });
  }
  return out.sort((a, b) => a.generation - b.generation || bySeq(a, b));
}

/** Objects of `db`, or `HADB_CLI_DATABASE` when storage holds none. */
export async function requireObjects(
  storage: StorageBackend,
  db: string,
  options: { signal?: AbortSignal } = {},
): Promise<StoredObject[]> {
  const objects = await listObjects(storage, db, options);
  if (objects.length === 0)
    throw new CliError('HADB_CLI_DATABASE', `no database "${db}" in storage (hadb ls lists them)`);
  return objects;
}

async function readPrefix(
  storage: StorageBackend,
  key: string,
  length: number,
  signal?: AbortSignal,
): Promise<{ bytes: Uint8Array; size: number } | null> {
  const object = await storage.getStream(key, { start: 0, length, signal });
  if (object === null) return null;
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of object.body) {
    chunks.push(chunk);
    n += chunk.length;
  }
  return { bytes: Buffer.concat(chunks, n), size: object.size };
}

/** The epoch marker (zero-length entry with an even id) among the entries within `bytes`. */
function epochIn(bytes: Uint8Array, pageIdSize: number, pageCount: number): bigint | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 40;
  for (let i = 0; i < pageCount && off + pageIdSize + 4 <= bytes.length; i++) {
    const id = pageIdSize === 8 ? view.getBigUint64(off) : BigInt(view.getUint32(off));
    const len = view.getUint32(off + pageIdSize);
    if (len === 0 && id % 2n === 0n) return id / 2n;
    off += pageIdSize + 4 + len;
  }
  return null;
}

/** Reads the header of each object (a ranged read each, `HEADER_CONCURRENCY` at a time). */
export async function describeObjects(
  storage: StorageBackend,
  objects: readonly StoredObject[],
  options: { signal?: AbortSignal; epochs?: boolean } = {},
): Promise<ObjectDetails[]> {
  const details = await mapLimit(objects, HEADER_CONCURRENCY, async (o): Promise<ObjectDetails | null> => {
    const probe = o.kind === 'hadbp' ? (options.epochs === false ? 40 : EPOCH_PROBE_BYTES) : 128;
    const got = await readPrefix(storage, o.key, probe, options.signal);
    if (got === null) return null; // deleted since the listing
    const { bytes, size } = got;
    if (Buffer.from(bytes.subarray(0, 19)).toString('latin1') === 'age-encryption.org/') {
      throw new CliError(
        'HADB_CLI_INVALID_CONFIG',
        `${o.key} is age-encrypted; pass --age-identity FILE (or set age-identities in the config file)`,
      );
    }
    const base = {
      ...o,
      size,
      createdMs: null,
      pageIdSize: null,
      pageCount: null,
      prevChecksum: null,
      lastSeq: null,
      epoch: null,
    };
    if (o.kind === 'hadbp') {
      if (bytes.length < 40 || Buffer.from(bytes.subarray(0, 5)).toString('latin1') !== 'HADBP') return base;
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const pageIdSize = view.getUint8(7);
      const pageCount = view.getUint32(28);
      const created = Number(view.getBigInt64(32));
      return {
        ...base,
        pageIdSize,
        pageCount,
        prevChecksum: view.getBigUint64(20),
        createdMs: created > 0 ? created : null,
        epoch: pageIdSize === 8 ? epochIn(bytes, pageIdSize, pageCount) : null,
      };
    }
    try {
      const h = decodeJournalHeader(bytes);
      return {
        ...base,
        createdMs: h.createdMs > 0n ? Number(h.createdMs) : null,
        lastSeq: h.lastSeq,
        prevChecksum: h.prevSegmentChecksum,
      };
    } catch {
      return base;
    }
  });
  return details.filter((d): d is ObjectDetails => d !== null);
}

/** The engine that wrote these objects (`unknown` when none can be told). */
export function engineOf(details: readonly ObjectDetails[]): Engine {
  if (details.some((d) => d.kind === 'hadbj')) return 'graphstream';
  if (details.some((d) => d.pageIdSize === 8)) return 'duckblock';
  if (details.some((d) => d.pageIdSize === 4)) return 'sqlite';
  return 'unknown';
}
