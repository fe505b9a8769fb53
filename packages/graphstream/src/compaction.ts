import { createReadStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { COMPRESSION_ZSTD, encodeJournalHeader, zstdCompress } from '@hadb/changeset';
import { type Clock, systemClock, throwIfAborted, type OpOptions } from '@hadb/io';
import { GraphstreamError, graphstreamAborted } from './errors.js';
import {
  FLAG_COMPRESSED,
  FLAG_HAS_CHAIN_HASH,
  FLAG_SEALED,
  HEADER_SIZE,
  type SegmentSummary,
  hashToU64,
  verifySegmentStream,
} from './format.js';
import { fsyncDir, ioError, writeAll } from './fsutil.js';
import { GraphstreamMetrics } from './metrics.js';
import { compactedFileName, inDir, tmpPath } from './naming.js';
import { listSegmentFiles } from './recovery.js';
import type { JournalUploader, UploadResult } from './uploader.js';

/** Options of {@link compactJournal}. */
export interface CompactionOptions extends OpOptions {
  readonly dir: string;
  /** Uploads the compacted segment and tells which local segments are uploaded. */
  readonly uploader: JournalUploader;
  /** Compact once at least this many uploaded segments (besides the newest) exist. Default 10. */
  readonly threshold?: number;
  /** zstd level for inputs that are not already compressed. Default 3. */
  readonly zstdLevel?: number;
  readonly metrics?: GraphstreamMetrics;
  /** Time source of the compacted segment's `created_ms` (`wallMs()`). Default `systemClock`. */
  readonly clock?: Clock | undefined;
}

/** Result of a compaction that ran. */
export interface CompactionResult {
  readonly name: string;
  readonly firstSeq: bigint;
  readonly lastSeq: bigint;
  readonly inputs: readonly string[];
  readonly upload: UploadResult;
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

async function* fileRange(path: string, start: number, end: number): AsyncGenerator<Uint8Array> {
  if (end <= start) return;
  yield* createReadStream(path, { start, end: end - 1, highWaterMark: 256 * 1024 }) as AsyncIterable<Uint8Array>;
}

/**
 * Merges uploaded local segments into one `compacted-{first}-{last}.hadbj` and uploads it, with
 * bounded memory: every input is verified by streaming, then the inputs' zstd bodies are
 * concatenated as consecutive frames (a valid zstd stream whose content is the concatenated
 * entries), hashing as they are copied. Every entry and the chain are preserved: the result's
 * `prev_segment_checksum` is the first input's, its trailer the last input's chain hash, and it
 * is verified end to end before upload. The upload replaces the object of the first input with
 * this verified superset (`putIfMatch`); other inputs' objects stay (readers skip covered
 * segments). Local inputs are deleted afterwards. The newest uploaded local segment is never an
 * input, so writer recovery stays O(1).
 *
 * Resolves to `null` when fewer than `threshold` segments qualify.
 */
export async function compactJournal(options: CompactionOptions): Promise<CompactionResult | null> {
  const metrics = options.metrics ?? new GraphstreamMetrics();
  const threshold = options.threshold ?? 10;
  if (!Number.isInteger(threshold) || threshold < 2) {
    throw new GraphstreamError('HADB_GRAPHSTREAM_INVALID_ARGUMENT', 'threshold must be an integer >= 2');
  }
  const files = await listSegmentFiles(options.dir);
  // The newest uploaded segment stays (writer recovery reads its trailer); only a contiguous run
  // from the oldest local segment qualifies.
  const uploaded = files.filter((f) => options.uploader.manifest.has(f.name)).slice(0, -1);
  const inputs = uploaded.filter((f, i) => files[i] === f);
  if (inputs.length < threshold) return null;
  try {
    return await compact(options, inputs, metrics);
  } catch (error) {
    metrics.inc('compaction_errors');
    metrics.inc('errors');
    throw error;
  }
}

async function compact(
  options: CompactionOptions,
  inputs: readonly { name: string; path: string }[],
  metrics: GraphstreamMetrics,
): Promise<CompactionResult> {
  const summaries: SegmentSummary[] = [];
  for (const input of inputs) {
    throwIfAborted(options.signal, graphstreamAborted);
    const s = await verifySegmentStream(createReadStream(input.path), { signal: options.signal });
    const prev = summaries[summaries.length - 1];
    if (
      prev !== undefined &&
      (s.header.firstSeq !== prev.header.lastSeq + 1n || !sameHash(s.firstPrevHash, prev.chainHash))
    ) {
      throw new GraphstreamError(
        'HADB_GRAPHSTREAM_CHAIN_MISMATCH',
        `segments do not chain at seq ${s.header.firstSeq}`,
        {
          seq: s.header.firstSeq,
          location: input.path,
        },
      );
    }
    summaries.push(s);
  }
  const first = summaries[0]!;
  const last = summaries[summaries.length - 1]!;
  const name = compactedFileName(first.header.firstSeq, last.header.lastSeq);
  const path = inDir(options.dir, name);
  const tmp = tmpPath(path);
  const fh = await open(tmp, 'wx').catch((cause: unknown) => {
    throw ioError(`could not create ${tmp}`, cause, tmp);
  });
  try {
    const sha = createHash('sha256');
    let pos = HEADER_SIZE;
    let entryCount = 0n;
    for (let i = 0; i < inputs.length; i++) {
      const s = summaries[i]!;
      const bodyEnd = HEADER_SIZE + Number(s.header.bodyLen);
      if ((s.header.flags & FLAG_COMPRESSED) !== 0) {
        for await (const chunk of fileRange(inputs[i]!.path, HEADER_SIZE, bodyEnd)) {
          sha.update(chunk);
          await writeAll(fh, chunk, pos);
          pos += chunk.length;
        }
      } else {
        const raw: Uint8Array[] = [];
        for await (const chunk of fileRange(inputs[i]!.path, HEADER_SIZE, bodyEnd)) raw.push(chunk);
        const frame = await zstdCompress(Buffer.concat(raw), { level: options.zstdLevel ?? 3 });
        sha.update(frame);
        await writeAll(fh, frame, pos);
        pos += frame.length;
      }
      entryCount += BigInt(s.entryCount);
    }
    const header = encodeJournalHeader({
      flags: FLAG_SEALED | FLAG_HAS_CHAIN_HASH | FLAG_COMPRESSED,
      compression: COMPRESSION_ZSTD,
      firstSeq: first.header.firstSeq,
      lastSeq: last.header.lastSeq,
      entryCount,
      bodyLen: BigInt(pos - HEADER_SIZE),
      bodyChecksum: new Uint8Array(sha.digest()),
      prevSegmentChecksum: hashToU64(first.firstPrevHash),
      createdMs: BigInt((options.clock ?? systemClock).wallMs()),
    });
    await writeAll(fh, header, 0);
    await writeAll(fh, last.chainHash, pos);
    await fh.sync();
    await fh.close();
    const check = await verifySegmentStream(createReadStream(tmp), { signal: options.signal });
    if (
      check.header.entryCount !== entryCount ||
      !sameHash(check.chainHash, last.chainHash) ||
      !sameHash(check.firstPrevHash, first.firstPrevHash)
    ) {
      throw new GraphstreamError('HADB_GRAPHSTREAM_CORRUPT', 'compacted segment does not preserve its inputs', {
        location: tmp,
      });
    }
    await rename(tmp, path);
    await fsyncDir(options.dir);
  } catch (error) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw error;
  }
  const upload = await options.uploader.upload(name, { signal: options.signal });
  for (const input of inputs) await rm(input.path, { force: true });
  await fsyncDir(options.dir);
  await options.uploader.manifest.forget(inputs.map((i) => i.name));
  metrics.inc('compactions');
  return {
    name,
    firstSeq: first.header.firstSeq,
    lastSeq: last.header.lastSeq,
    inputs: inputs.map((i) => i.name),
    upload,
  };
}
