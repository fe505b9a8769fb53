import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { readLiveJournal } from '@hadb/changeset';
import { throwIfAborted, type OpOptions } from '@hadb/io';
import { GraphstreamError, graphstreamAborted } from './errors.js';
import { FLAG_SEALED, HEADER_SIZE, ZERO_HASH, decodeHeader, verifySegmentStream } from './format.js';
import { ioError } from './fsutil.js';
import { GraphstreamMetrics } from './metrics.js';
import { type JournalPosition, listSegmentFiles } from './recovery.js';

/** One entry handed to a replay callback. */
export interface ReplayEntry {
  readonly seq: bigint;
  /** Chain hash of the previous entry. */
  readonly prevHash: Uint8Array;
  /** The payload (a `graphd.JournalEntry` for graphstream writers; see `decodePayload`). */
  readonly payload: Uint8Array;
}

/** Options of {@link replayJournal}. */
export interface ReplayOptions extends OpOptions {
  /** First sequence to hand to `apply` (default 1). Earlier entries are verified and skipped. */
  readonly fromSeq?: bigint;
  /**
   * Chain hash of entry `fromSeq - 1`, when known (a follower's saved position). The entry
   * `fromSeq` must link to it, else `HADB_GRAPHSTREAM_CHAIN_MISMATCH`.
   */
  readonly expectedPrevHash?: Uint8Array;
  /** Include the unsealed live segment (entries not yet sealed). Default true. */
  readonly includeLive?: boolean;
  readonly metrics?: GraphstreamMetrics;
  /** Cap on one sealed segment's decoded body (default 64 MiB); see `VerifySegmentStreamOptions.maxBodyBytes`. */
  readonly maxSegmentBodyBytes?: number | undefined;
}

/** Result of {@link replayJournal}. */
export interface ReplayResult {
  /** Entries handed to `apply`. */
  readonly applied: number;
  /** Position after the last entry read (applied or not); `seq` 0 when the journal is empty. */
  readonly position: JournalPosition;
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Replays the local journal in `dir` from `fromSeq`, in order, awaiting `apply` for each entry.
 * Reading streams each segment with bounded memory (streaming zstd) and verifies as it goes:
 * CRCs, the chain inside and across segments, contiguous sequences, and (at the end of each
 * sealed segment) its body checksum and trailer. It starts at the newest segment that can hold
 * `fromSeq`, so replay from a late sequence does not read the whole journal.
 *
 * A local hole (`fromSeq` older than the oldest local segment, or missing segments in between)
 * is `HADB_GRAPHSTREAM_GAP`; broken links are `HADB_GRAPHSTREAM_CHAIN_MISMATCH`.
 */
export async function replayJournal(
  dir: string,
  apply: (entry: ReplayEntry) => unknown,
  options: ReplayOptions = {},
): Promise<ReplayResult> {
  const fromSeq = options.fromSeq ?? 1n;
  if (fromSeq < 1n) throw new GraphstreamError('HADB_GRAPHSTREAM_INVALID_ARGUMENT', 'fromSeq must be >= 1');
  const metrics = options.metrics ?? new GraphstreamMetrics();
  const files = await listSegmentFiles(dir);
  let start = 0;
  for (let i = 0; i < files.length; i++) if (files[i]!.firstSeq <= fromSeq) start = i;
  const first = files[start];
  if (first === undefined) return { applied: 0, position: { seq: 0n, chainHash: ZERO_HASH } };
  if (first.firstSeq > fromSeq) {
    throw new GraphstreamError(
      'HADB_GRAPHSTREAM_GAP',
      `local journal starts at seq ${first.firstSeq}, after ${fromSeq}`,
      {
        seq: fromSeq,
        location: first.path,
      },
    );
  }

  let next: bigint | undefined; // next sequence expected
  let running: Uint8Array | undefined; // its prev_hash
  let applied = 0;
  const onEntry = async (e: ReplayEntry): Promise<void> => {
    if (next !== undefined && e.seq < next) return; // overlap with an earlier (compacted) segment
    if (next !== undefined && e.seq > next) {
      throw new GraphstreamError('HADB_GRAPHSTREAM_GAP', `local journal gap after seq ${next - 1n}`, {
        seq: next - 1n,
      });
    }
    if (next !== undefined && running !== undefined && !sameHash(e.prevHash, running)) {
      throw new GraphstreamError('HADB_GRAPHSTREAM_CHAIN_MISMATCH', `chain hash mismatch at seq ${e.seq}`, {
        seq: e.seq,
      });
    }
    if (
      e.seq === fromSeq &&
      options.expectedPrevHash !== undefined &&
      !sameHash(e.prevHash, options.expectedPrevHash)
    ) {
      throw new GraphstreamError('HADB_GRAPHSTREAM_CHAIN_MISMATCH', `chain hash mismatch at seq ${e.seq}`, {
        seq: e.seq,
      });
    }
    next = e.seq + 1n;
    running = undefined;
    if (e.seq >= fromSeq) {
      throwIfAborted(options.signal, graphstreamAborted);
      await apply(e);
      applied++;
      metrics.inc('entries_replayed');
    }
  };

  let lastHash: Uint8Array = ZERO_HASH;
  for (let i = start; i < files.length; i++) {
    const file = files[i]!;
    throwIfAborted(options.signal, graphstreamAborted);
    const head = await readHead(file.path);
    if (head === undefined) continue;
    const sealed = (head.flags & FLAG_SEALED) !== 0;
    if (!sealed && i !== files.length - 1) {
      throw new GraphstreamError('HADB_GRAPHSTREAM_CORRUPT', 'an unsealed segment is not the newest one', {
        location: file.path,
      });
    }
    if (!sealed && options.includeLive === false) break;
    const stream = createReadStream(file.path, { highWaterMark: 256 * 1024 });
    const before = next;
    try {
      if (sealed) {
        const summary = await verifySegmentStream(stream, {
          onEntry,
          signal: options.signal,
          maxBodyBytes: options.maxSegmentBodyBytes,
        });
        if (next !== before) {
          lastHash = summary.chainHash;
          running = summary.chainHash;
        }
      } else {
        const reader = readLiveJournal(stream, { signal: options.signal });
        try {
          for await (const e of reader) await onEntry({ seq: e.sequence, prevHash: e.prevHash, payload: e.payload });
        } finally {
          await reader.close();
        }
        if (reader.end !== undefined && reader.end.lastSeq !== null && next !== before) {
          lastHash = reader.end.chainHash;
          running = reader.end.chainHash;
        }
      }
    } catch (cause) {
      throw cause instanceof GraphstreamError ? cause : ioError(`could not read ${file.path}`, cause, file.path);
    } finally {
      stream.destroy();
    }
  }
  return {
    applied,
    position: { seq: next === undefined ? 0n : next - 1n, chainHash: next === undefined ? ZERO_HASH : lastHash },
  };
}

async function readHead(path: string): Promise<ReturnType<typeof decodeHeader> | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError(`could not open ${path}`, cause, path);
  }
  try {
    const buf = new Uint8Array(HEADER_SIZE);
    const { bytesRead } = await fh.read(buf, 0, HEADER_SIZE, 0);
    if (bytesRead < HEADER_SIZE) return undefined;
    return decodeHeader(buf);
  } catch (cause) {
    throw new GraphstreamError('HADB_GRAPHSTREAM_CORRUPT', 'segment header is invalid', { cause, location: path });
  } finally {
    await fh.close();
  }
}
