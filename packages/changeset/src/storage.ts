import type { OpOptions } from '@hadb/io';
import type { StorageBackend } from '@hadb/storage';
import { ChangesetError, isChangesetError } from './errors.js';
import {
  ChangesetKind,
  formatKey,
  GENERATION_INCREMENTAL,
  GENERATION_SNAPSHOT,
  generationPrefix,
  parseSeqStem,
} from './keys.js';
import { decodePhysical, encodePhysical, verifyChain } from './physical.js';
import type { PhysicalChangeset } from './types.js';
import { assertU64 } from './validate.js';

/** A changeset found by listing. */
export interface DiscoveredChangeset {
  readonly key: string;
  readonly seq: bigint;
  readonly kind: ChangesetKind;
}

/** Where an upload went. */
export interface UploadResult {
  readonly key: string;
  readonly etag: string;
}

/** Authoritative base of a strict chain (externally owned state). */
export interface StrictChainBase {
  readonly seq: bigint;
  readonly checksum: bigint;
}

/** Validated head of a strict chain: the last seq and checksum, and how many changesets were verified. */
export interface StrictChainHead {
  readonly seq: bigint;
  readonly checksum: bigint;
  readonly count: number;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/**
 * Uploads an incremental changeset to `{prefix}{db}/0000/{seq:016x}.hadbp` with `putIfAbsent`:
 * a sequence, once written, is never overwritten. If the key already holds byte-identical
 * content (a retried upload whose first attempt landed) the call succeeds with the existing
 * etag; any other existing object is `HADB_CHANGESET_SEQUENCE_EXISTS` (a competing writer or a
 * regenerated changeset). Storage failures propagate as `StorageError`.
 *
 * Deliberate difference from Rust's `upload_physical`, which uses an unconditional `put`.
 */
export async function uploadPhysical(
  storage: StorageBackend,
  prefix: string,
  db: string,
  cs: PhysicalChangeset,
  options: OpOptions = {},
): Promise<UploadResult> {
  const key = formatKey(prefix, db, GENERATION_INCREMENTAL, cs.header.seq, ChangesetKind.Physical);
  const data = encodePhysical(cs);
  const result = await storage.putIfAbsent(key, data, options);
  if (result.success) return { key, etag: result.etag };
  const existing = await storage.get(key, options);
  if (existing !== null && sameBytes(existing.data, data)) return { key, etag: existing.etag };
  throw new ChangesetError(
    'HADB_CHANGESET_SEQUENCE_EXISTS',
    `changeset seq ${cs.header.seq} already exists at ${key} with different content`,
    { key, seq: cs.header.seq },
  );
}

/**
 * Uploads a snapshot (a full-page changeset) to `{prefix}{db}/0001/{seq:016x}.hadbp` with an
 * unconditional `put`, as in Rust: re-snapshotting the same seq replaces the object atomically.
 */
export async function uploadPhysicalSnapshot(
  storage: StorageBackend,
  prefix: string,
  db: string,
  cs: PhysicalChangeset,
  options: OpOptions = {},
): Promise<UploadResult> {
  const key = formatKey(prefix, db, GENERATION_SNAPSHOT, cs.header.seq, ChangesetKind.Physical);
  const { etag } = await storage.put(key, encodePhysical(cs), options);
  return { key, etag };
}

/**
 * Downloads and decodes (self-verifies) a changeset. A missing key is `HADB_CHANGESET_NOT_FOUND`
 * ("changeset key {key} not found"); a decode failure keeps the decoder's code and numbers with
 * the message "failed to decode changeset at {key}: {reason}" (and the original as `cause`).
 */
export async function downloadPhysical(
  storage: StorageBackend,
  key: string,
  options: OpOptions = {},
): Promise<PhysicalChangeset> {
  const object = await storage.get(key, options);
  if (object === null) {
    throw new ChangesetError('HADB_CHANGESET_NOT_FOUND', `changeset key ${key} not found`, { key });
  }
  try {
    return decodePhysical(object.data);
  } catch (err) {
    throw rewrap(err, `failed to decode changeset at ${key}`, key);
  }
}

function rewrap(err: unknown, context: string, key: string, seq?: bigint): ChangesetError {
  if (!isChangesetError(err)) return ChangesetError.io(err, `${context}: ${String(err)}`);
  return new ChangesetError(err.code, `${context}: ${err.message}`, {
    cause: err,
    expected: err.expected,
    actual: err.actual,
    changesetPrev: err.changesetPrev,
    needed: err.needed,
    available: err.available,
    dataLen: err.dataLen,
    pageSize: err.pageSize,
    version: err.version,
    flags: err.flags,
    pageIdSize: err.pageIdSize,
    key,
    seq: seq ?? err.seq,
  });
}

function collect(
  keys: readonly string[],
  dir: string,
  kind: ChangesetKind,
  after: bigint | null,
): DiscoveredChangeset[] {
  const found: DiscoveredChangeset[] = [];
  for (const key of keys) {
    if (!key.startsWith(dir)) continue;
    const seq = parseSeqStem(key.slice(dir.length), kind);
    if (seq === null || (after !== null && seq <= after)) continue;
    found.push({ key, seq, kind });
  }
  return found.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
}

/**
 * Incremental changesets (generation 0) of `kind` with `seq > afterSeq`, sorted by seq
 * (stable: a listing that repeats a key keeps both). Lists `{prefix}{db}/0000/` with
 * `after = {dir}{afterSeq:016x}.{kind}` as a hint, and re-applies the filter itself because a
 * backend's `after` may be advisory. Keys whose name is not `{hex}.{kind}` are ignored.
 */
export async function discoverAfter(
  storage: StorageBackend,
  prefix: string,
  db: string,
  afterSeq: bigint,
  kind: ChangesetKind,
  options: OpOptions = {},
): Promise<DiscoveredChangeset[]> {
  assertU64('afterSeq', afterSeq);
  const dir = generationPrefix(prefix, db, GENERATION_INCREMENTAL);
  const after = formatKey(prefix, db, GENERATION_INCREMENTAL, afterSeq, kind);
  const keys = await storage.list(dir, { after, signal: options.signal });
  return collect(keys, dir, kind, afterSeq);
}

/**
 * The snapshot (generation 1 only, as in Rust) of `kind` with the highest seq, or `null`.
 * Of equal seqs (different spellings of the same number) the first listed wins.
 */
export async function discoverLatestSnapshot(
  storage: StorageBackend,
  prefix: string,
  db: string,
  kind: ChangesetKind,
  options: OpOptions = {},
): Promise<DiscoveredChangeset | null> {
  const dir = generationPrefix(prefix, db, GENERATION_SNAPSHOT);
  const keys = await storage.list(dir, { signal: options.signal });
  let latest: DiscoveredChangeset | null = null;
  for (const found of collect(keys, dir, kind, null)) {
    if (latest === null || found.seq > latest.seq) latest = found;
  }
  return latest;
}

/**
 * Validates the live physical chain after an externally owned `base` and returns its head.
 * Downloads every generation-0 `.hadbp` with `seq > base.seq` in order and fails closed:
 * a repeated seq is `DUPLICATE_SEQ`, a seq other than `previous + 1` is `SEQUENCE_GAP`, a header
 * seq that differs from the key's is `KEY_MISMATCH`, and a link that does not verify keeps
 * `verifyChain`'s code (`CHAIN_BROKEN` / `CHECKSUM_MISMATCH`) with the message
 * "{db}: checksum chain break at seq {seq} ({key}): {reason}". No changesets: returns the base
 * with `count: 0`.
 */
export async function discoverStrictPhysicalChain(
  storage: StorageBackend,
  prefix: string,
  db: string,
  base: StrictChainBase,
  options: OpOptions = {},
): Promise<StrictChainHead> {
  assertU64('base.seq', base.seq);
  assertU64('base.checksum', base.checksum);
  const files = await discoverAfter(storage, prefix, db, base.seq, ChangesetKind.Physical, options);
  const seen = new Set<bigint>();
  let expectedSeq = base.seq + 1n;
  let expectedChecksum = base.checksum;
  let count = 0;
  for (const file of files) {
    if (seen.has(file.seq)) {
      throw new ChangesetError(
        'HADB_CHANGESET_DUPLICATE_SEQ',
        `${db}: duplicate live physical changeset seq ${file.seq} at ${file.key}`,
        { key: file.key, seq: file.seq },
      );
    }
    seen.add(file.seq);
    if (file.seq !== expectedSeq) {
      throw new ChangesetError(
        'HADB_CHANGESET_SEQUENCE_GAP',
        `${db}: non-contiguous live physical changeset sequence: expected ${expectedSeq}, found ${file.seq} at ${file.key}`,
        { key: file.key, seq: file.seq, expected: expectedSeq },
      );
    }
    const cs = await downloadPhysical(storage, file.key, options);
    if (cs.header.seq !== file.seq) {
      throw new ChangesetError(
        'HADB_CHANGESET_KEY_MISMATCH',
        `${db}: changeset key/header seq mismatch at ${file.key}: key ${file.seq}, header ${cs.header.seq}`,
        { key: file.key, seq: file.seq },
      );
    }
    try {
      verifyChain(expectedChecksum, cs);
    } catch (err) {
      throw rewrap(err, `${db}: checksum chain break at seq ${file.seq} (${file.key})`, file.key, file.seq);
    }
    expectedChecksum = cs.checksum;
    expectedSeq += 1n;
    count++;
  }
  return { seq: expectedSeq - 1n, checksum: expectedChecksum, count };
}
