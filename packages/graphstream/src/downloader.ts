import { mkdir, open, rename, rm } from 'node:fs/promises';
import type { StorageBackend } from '@hadb/storage';
import { throwIfAborted, type OpOptions } from '@hadb/io';
import { GraphstreamError, graphstreamAborted } from './errors.js';
import { FLAG_SEALED, HEADER_SIZE, type JournalHeader, decodeHeader, verifySegmentStream } from './format.js';
import { fsyncDir, ioError, writeAll } from './fsutil.js';
import { checkPrefix, journalPrefix, parseSegmentKey } from './keys.js';
import { GraphstreamMetrics } from './metrics.js';
import { inDir, segmentFileName, tmpPath } from './naming.js';
import { type JournalPosition, listSegmentFiles } from './recovery.js';

/** Options of {@link downloadNewSegments}. */
export interface DownloadOptions extends OpOptions {
  readonly storage: StorageBackend;
  /** Key prefix, `""` or ending in `/`. */
  readonly prefix: string;
  readonly db: string;
  /** Local journal directory the segments are written to (as `journal-{first_seq:016}.hadbj`). */
  readonly dir: string;
  /** The local position: the last entry already held and its chain hash. */
  readonly since: JournalPosition;
  /**
   * Called after each segment is stored durably, before the next one is fetched, so a caller
   * keeps its position even when a later segment fails (gap, corruption).
   */
  readonly onSegment?: (segment: DownloadedSegment) => void;
  /** Stop after this many segments (the next call continues). Default: no limit. */
  readonly maxSegments?: number;
  readonly metrics?: GraphstreamMetrics;
  /** Cap on one segment's decoded body (default 64 MiB); see `VerifySegmentStreamOptions.maxBodyBytes`. */
  readonly maxSegmentBodyBytes?: number | undefined;
}

/** One downloaded, verified and locally stored segment. */
export interface DownloadedSegment {
  readonly key: string;
  readonly path: string;
  readonly firstSeq: bigint;
  readonly lastSeq: bigint;
  readonly chainHash: Uint8Array;
  readonly bytes: number;
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

async function remoteHeader(
  storage: StorageBackend,
  key: string,
  seq: bigint,
  signal?: AbortSignal,
): Promise<JournalHeader | null> {
  const bytes = await storage.rangeGet(key, 0, HEADER_SIZE, { signal });
  if (bytes === null) return null;
  let header: JournalHeader;
  try {
    header = decodeHeader(bytes);
  } catch (cause) {
    throw new GraphstreamError('HADB_GRAPHSTREAM_INVALID_SEGMENT', `object ${key} is not a journal segment`, {
      cause,
      location: key,
    });
  }
  if (header.firstSeq !== seq || (header.flags & FLAG_SEALED) === 0 || header.lastSeq < header.firstSeq) {
    throw new GraphstreamError('HADB_GRAPHSTREAM_INVALID_SEGMENT', `segment ${key} has an inconsistent header`, {
      location: key,
      seq,
    });
  }
  return header;
}

/**
 * Downloads the segments that continue the local journal from `since`, verifying every byte before
 * it becomes visible locally (streamed to a temporary file with bounded memory, then renamed):
 * body checksum, every entry CRC, the chain inside the segment, contiguous sequences, header
 * consistency with the key and the entries, and the link from `since` (the entry `since.seq + 1`
 * must have `prev_hash == since.chainHash`).
 *
 * Selection follows graphstream's contiguous-cover rule: segments ending at or before the
 * position are skipped; a segment starting after the next needed sequence is a gap
 * (`HADB_GRAPHSTREAM_GAP`); a segment that starts inside one already selected and ends after it is
 * an overlap (`HADB_GRAPHSTREAM_OVERLAP`). The first segment may start before the position (a
 * compacted superset); its older entries are verified and skipped on replay. A key that vanishes
 * between listing and reading (replaced by compaction) ends the call early; the next call relists.
 *
 * Returns the segments stored, in order (empty when up to date).
 */
export async function downloadNewSegments(options: DownloadOptions): Promise<DownloadedSegment[]> {
  const metrics = options.metrics ?? new GraphstreamMetrics();
  try {
    return await download(options, metrics);
  } catch (error) {
    metrics.inc('download_errors');
    metrics.inc('errors');
    throw error;
  }
}

async function download(options: DownloadOptions, metrics: GraphstreamMetrics): Promise<DownloadedSegment[]> {
  const { storage, db, dir, signal } = options;
  const prefix = checkPrefix(options.prefix);
  throwIfAborted(signal, graphstreamAborted);
  await mkdir(dir, { recursive: true }).catch((cause: unknown) => {
    throw ioError(`could not create ${dir}`, cause, dir);
  });
  const listPrefix = journalPrefix(prefix, db);
  const keyed: { key: string; seq: bigint }[] = [];
  for (const key of await storage.list(listPrefix, { signal })) {
    const seq = parseSegmentKey(prefix, db, key);
    if (seq !== undefined) keyed.push({ key, seq });
  }
  keyed.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));

  let expected = options.since.seq + 1n;
  let expectedPrev = options.since.chainHash;
  // Start at the newest key that can still hold `expected`.
  let start = 0;
  for (let i = 0; i < keyed.length; i++) if (keyed[i]!.seq <= expected) start = i;
  const out: DownloadedSegment[] = [];
  const limit = options.maxSegments ?? Number.POSITIVE_INFINITY;

  for (let i = start; i < keyed.length && out.length < limit; i++) {
    throwIfAborted(signal, graphstreamAborted);
    const { key, seq } = keyed[i]!;
    if (seq > expected) {
      throw new GraphstreamError(
        'HADB_GRAPHSTREAM_GAP',
        `journal gap after seq ${expected - 1n}: next segment starts at ${seq}`,
        {
          seq: expected - 1n,
          location: key,
        },
      );
    }
    if (seq < expected) {
      const header = await remoteHeader(storage, key, seq, signal);
      if (header === null) break;
      if (header.lastSeq < expected) continue;
      if (out.length > 0) {
        throw new GraphstreamError(
          'HADB_GRAPHSTREAM_OVERLAP',
          `overlapping journal segment ${key} (${seq}..${header.lastSeq}) after seq ${expected - 1n}`,
          {
            seq,
            location: key,
          },
        );
      }
    }
    const got = await fetchSegment(storage, key, seq, dir, expected, expectedPrev, signal, options.maxSegmentBodyBytes);
    if (got === null) break;
    metrics.inc('downloads');
    metrics.inc('download_bytes', got.bytes);
    out.push(got);
    options.onSegment?.(got);
    expected = got.lastSeq + 1n;
    expectedPrev = got.chainHash;
  }
  return out;
}

async function fetchSegment(
  storage: StorageBackend,
  key: string,
  seq: bigint,
  dir: string,
  expected: bigint,
  expectedPrev: Uint8Array,
  signal: AbortSignal | undefined,
  maxBodyBytes: number | undefined,
): Promise<DownloadedSegment | null> {
  const stream = await storage.getStream(key, { signal });
  if (stream === null) return null;
  const finalPath = inDir(dir, segmentFileName(seq));
  const tmp = tmpPath(finalPath);
  const fh = await open(tmp, 'wx').catch((cause: unknown) => {
    throw ioError(`could not create ${tmp}`, cause, tmp);
  });
  let written = 0;
  let linked = false;
  try {
    async function* teed(): AsyncGenerator<Uint8Array> {
      for await (const chunk of stream!.body) {
        await writeAll(fh, chunk, written);
        written += chunk.length;
        yield chunk;
      }
    }
    let summary;
    try {
      summary = await verifySegmentStream(teed(), {
        signal,
        maxBodyBytes,
        onEntry: (entry) => {
          if (entry.seq === expected) {
            if (!sameHash(entry.prevHash, expectedPrev)) {
              throw new GraphstreamError('HADB_GRAPHSTREAM_CHAIN_MISMATCH', `chain hash mismatch at seq ${entry.seq}`, {
                seq: entry.seq,
                location: key,
              });
            }
            linked = true;
          }
        },
      });
    } catch (cause) {
      if (cause instanceof GraphstreamError && cause.code !== 'HADB_GRAPHSTREAM_INVALID_SEGMENT') throw cause;
      throw new GraphstreamError('HADB_GRAPHSTREAM_INVALID_SEGMENT', `segment ${key} failed verification`, {
        cause,
        location: key,
      });
    }
    if (summary.header.firstSeq !== seq) {
      throw new GraphstreamError(
        'HADB_GRAPHSTREAM_INVALID_SEGMENT',
        `segment ${key} header first_seq ${summary.header.firstSeq} differs from its key`,
        {
          location: key,
        },
      );
    }
    if (!linked) {
      throw new GraphstreamError(
        'HADB_GRAPHSTREAM_INVALID_SEGMENT',
        `segment ${key} does not contain seq ${expected}`,
        { location: key, seq: expected },
      );
    }
    await fh.sync();
    await fh.close();
    await rename(tmp, finalPath);
    await removeCovered(dir, finalPath, summary.header.firstSeq, summary.header.lastSeq);
    await fsyncDir(dir);
    return {
      key,
      path: finalPath,
      firstSeq: summary.header.firstSeq,
      lastSeq: summary.header.lastSeq,
      chainHash: summary.chainHash,
      bytes: written,
    };
  } catch (error) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw error;
  }
}

/** Deletes local segment files that the new segment `[first, last]` covers entirely. */
async function removeCovered(dir: string, keep: string, first: bigint, last: bigint): Promise<void> {
  const files = await listSegmentFiles(dir);
  for (const f of files) {
    if (f.path === keep || f.firstSeq < first || f.firstSeq > last) continue;
    const fileLast = await lastSeqOf(f.path);
    if (fileLast !== undefined && fileLast <= last) await rm(f.path, { force: true });
  }
}

async function lastSeqOf(path: string): Promise<bigint | undefined> {
  try {
    const fh = await open(path, 'r');
    try {
      const buf = new Uint8Array(HEADER_SIZE);
      await fh.read(buf, 0, HEADER_SIZE, 0);
      const h = decodeHeader(buf);
      return (h.flags & FLAG_SEALED) !== 0 ? h.lastSeq : undefined;
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}
