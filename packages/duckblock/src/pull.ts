import { childController, type OpOptions } from '@hadb/io';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { StorageBackend } from '@hadb/storage';
import { HEADER_REGION_SIZE, PAGE_SIZE } from './layout.js';
import { applySegmentDurably, applyStreamedSegment, recoverFile } from './apply.js';
import { discoverLatestSnapshotSegment, discoverSegmentsAfter, incrementalKey } from './discovery.js';
import { DuckblockError, throwIfAborted } from './errors.js';
import type { Position } from './position.js';
import { decodeSegment, type DecodedSegment } from './segment.js';
import { restoreSnapshot } from './snapshot.js';
import { brokenLinkError } from './divergence.js';

/** Options of {@link pullIncremental}. */
export interface PullOptions extends OpOptions {
  readonly signal?: AbortSignal | undefined;
  /** Segments downloaded ahead of the one being applied (default 4). */
  readonly concurrency?: number | undefined;
  /**
   * Downloads ahead pause while the downloaded, not yet applied segments hold more than this many
   * bytes (default 256 MiB); one segment is always fetched.
   */
  readonly maxBufferedBytes?: number | undefined;
  /**
   * Segments larger than this (default 64 MiB) are not held in memory: they are verified while
   * they stream into the apply journal and then applied from it.
   */
  readonly streamAboveBytes?: number | undefined;
  /** Largest file accepted from storage (default `DEFAULT_MAX_FILE_SIZE`, 64 GiB). */
  readonly maxFileSize?: number | undefined;
  /** Stop after applying this many incremental segments (default: all available). */
  readonly maxSegments?: number | undefined;
  /**
   * Called after each applied segment or restored snapshot, with the new durable position.
   * A reader that keeps DuckDB open must reopen before a second step is applied.
   */
  readonly onApplied?: ((position: Position, kind: 'segment' | 'snapshot') => void | Promise<void>) | undefined;
  /** Restore from the latest snapshot when the next segment is gone (default true). */
  readonly restoreFromSnapshot?: boolean | undefined;
  /**
   * Admission hook run after a segment verified and before it is applied (for example
   * `EpochGate.admit` of `@hadb/core`), with the segment's writer epoch and sequence number;
   * throwing refuses the segment and stops the pull.
   */
  readonly admitEpoch?: ((epoch: bigint, seq: bigint) => void) | undefined;
  /**
   * Delete stale DuckDB WAL files next to the file before applying (default true). Pass `false`
   * only when the file is open read-write by DuckDB in this process (its WAL is live).
   */
  readonly removeWal?: boolean | undefined;
  /**
   * Probe the next sequence's key with one HEAD (`exists`) first and return at once when it does not exist,
   * instead of listing (an idle poll then costs one HEAD rather than a LIST). Gaps left by
   * retention are only found by listing, so callers list now and then (the replicator does, every
   * `listIntervalMs`). Default false.
   */
  readonly probeFirst?: boolean | undefined;
}

/** Result of {@link pullIncremental}. */
export interface PullResult {
  /** Position after the pull (`null` when storage holds nothing for the database). */
  readonly position: Position | null;
  /** Incremental segments applied. */
  readonly applied: number;
  /** Whether a snapshot was restored. */
  readonly restored: boolean;
  /** Segment bytes downloaded. */
  readonly bytes: number;
  /** Whether storage was listed (false when a `probeFirst` GET found nothing new). */
  readonly listed: boolean;
}

/** A downloaded segment: small ones are read into memory, large ones are applied as they stream. */
type Fetched =
  | { readonly kind: 'memory'; readonly bytes: Uint8Array; readonly segment: DecodedSegment }
  | { readonly kind: 'stream'; readonly size: number; readonly body: AsyncIterable<Uint8Array> };

async function fetchSegment(
  storage: StorageBackend,
  key: string,
  seq: bigint,
  streamAbove: number,
  maxFileSize: number | undefined,
  signal: AbortSignal | undefined,
): Promise<Fetched | null> {
  const object = await storage.getStream(key, { signal });
  if (object === null) return null;
  if (object.size > streamAbove) return { kind: 'stream', size: object.size, body: object.body };
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of object.body) {
    chunks.push(chunk);
    length += chunk.length;
  }
  const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
  if (bytes.length !== object.size) {
    throw new DuckblockError(
      'HADB_DUCKBLOCK_CORRUPT',
      `segment at ${key} is ${bytes.length} bytes, storage says ${object.size}`,
    );
  }
  const segment = decodeSegment(bytes, maxFileSize);
  if (segment.changeset.header.seq !== seq) {
    throw new DuckblockError(
      'HADB_DUCKBLOCK_SEQ_MISMATCH',
      `segment at ${key} says seq ${segment.changeset.header.seq}, key says ${seq}`,
    );
  }
  return { kind: 'memory', bytes, segment };
}

/**
 * Brings the follower file at `dbPath` forward from its persisted position:
 *
 * 1. Recovers an interrupted apply and removes stale WAL files.
 * 2. Lists incremental segments after the position (the backend's `after` is only a hint).
 * 3. Downloads them ahead in parallel (bounded), and applies them strictly in order, each after
 *    verifying length and checksum (decode), key/header seq, chain linkage
 *    (`prev_checksum == position.checksum`) and epoch (never below the accepted one). Each apply
 *    is journalled and durable (see `applySegmentDurably`).
 * 4. When the next seq is missing (never written, or deleted by retention) and a snapshot newer
 *    than the position exists, restores that snapshot and continues after it. Otherwise a gap is
 *    `HADB_DUCKBLOCK_GAP`; nothing is ever skipped.
 *
 * With no position (a fresh follower) it starts from the latest snapshot; a file whose header or
 * size no longer matches its position (changed outside replication) is `HADB_DUCKBLOCK_DIVERGED` and
 * is never patched, as is a file whose position storage never held (a checkpoint a killed leader
 * never shipped: see `brokenLinkError`); a missing file with a position is restored. Errors leave the file
 * at the last durably applied segment: `HADB_DUCKBLOCK_CORRUPT`, `HADB_DUCKBLOCK_CHAIN_BROKEN`,
 * `HADB_DUCKBLOCK_SEQ_MISMATCH`, `HADB_DUCKBLOCK_FENCED`, `HADB_DUCKBLOCK_GAP`, or a `StorageError`.
 */
export async function pullIncremental(
  storage: StorageBackend,
  prefix: string,
  db: string,
  dbPath: string,
  options: PullOptions = {},
): Promise<PullResult> {
  const { signal } = options;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const maxBuffered = Math.max(0, options.maxBufferedBytes ?? 256 << 20);
  const streamAbove = Math.max(0, options.streamAboveBytes ?? 64 << 20);
  const maxSegments = options.maxSegments ?? Number.POSITIVE_INFINITY;
  const allowRestore = options.restoreFromSnapshot ?? true;
  let position = await recoverFile(dbPath, { removeWal: options.removeWal ?? true });
  /** The position the local file held before this pull; a link broken right after it is judged by `brokenLinkError`. */
  let local: Position | null = position;
  let acceptedEpoch = position?.epoch ?? 0n;
  if (position !== null) {
    const state = await localState(dbPath);
    if (state === null) {
      // The file is gone (deleted by hand): restore it, still refusing older epochs.
      position = null;
      local = null;
    } else if (
      state.fileSize !== position.manifest.fileSize ||
      state.headerHashes.some((h, i) => h !== position!.manifest.headerHashes[i])
    ) {
      throw new DuckblockError(
        'HADB_DUCKBLOCK_DIVERGED',
        `${db}: ${dbPath} is not the state its position (seq ${position.seq}) records; it was changed outside replication`,
      );
    }
  }
  let applied = 0;
  let restored = false;
  let bytes = 0;

  const restoreLatest = async (): Promise<boolean> => {
    if (!allowRestore) return false;
    const latest = await discoverLatestSnapshotSegment(storage, prefix, db, { signal });
    if (latest === null || (position !== null && latest.seq <= position.seq)) return false;
    position = await restoreSnapshot(storage, latest.key, dbPath, {
      acceptedEpoch: position?.epoch ?? acceptedEpoch,
      maxFileSize: options.maxFileSize,
      signal,
    });
    acceptedEpoch = position.epoch;
    restored = true;
    await options.onApplied?.(position, 'snapshot');
    return true;
  };

  const snapshotAtOrAfter = async (seq: bigint): Promise<boolean> => {
    const latest = await discoverLatestSnapshotSegment(storage, prefix, db, { signal });
    return latest !== null && latest.seq >= seq;
  };

  if (position === null && !(await restoreLatest())) {
    return { position: null, applied, restored, bytes, listed: true };
  }

  if (options.probeFirst === true && position !== null && !restored) {
    const next = incrementalKey(prefix, db, position.seq + 1n);
    if (!(await storage.exists(next, { signal }))) return { position, applied, restored, bytes, listed: false };
  }

  for (let round = 0; round < 8 && applied < maxSegments; round++) {
    throwIfAborted(signal);
    const pos: Position = position!;
    const found = await discoverSegmentsAfter(storage, prefix, db, pos.seq, { signal });
    if (found.length === 0 || found[0]!.seq !== pos.seq + 1n) {
      // Nothing new, or the next seq is gone: a newer snapshot (new lineage or retention) covers it.
      if (await restoreLatest()) continue;
      if (found.length === 0) break;
      throw new DuckblockError(
        'HADB_DUCKBLOCK_GAP',
        `${db}: segment ${pos.seq + 1n} is missing (next is ${found[0]!.seq}) and no newer snapshot exists`,
      );
    }
    // Contiguous run starting at pos.seq + 1.
    const run: typeof found = [];
    for (const f of found) {
      if (f.seq !== pos.seq + 1n + BigInt(run.length)) break;
      run.push(f);
      if (run.length >= maxSegments - applied) break;
    }
    // Downloads of this round still in flight when it ends (a gap, a lineage switch, a failure)
    // are cancelled, and downloaded segments left unapplied have their streams closed.
    const round = childController(signal);
    const pending = new Map<number, Promise<Fetched | null>>();
    let gapAt: bigint | null = null;
    let lineageSwitch = false;
    try {
      // Download ahead: at most `concurrency` segments, and no new download while the downloaded
      // but not yet applied segments hold more than `maxBufferedBytes`.
      let buffered = 0;
      let launched = 0;
      const fill = (from: number): void => {
        while (
          launched < run.length &&
          launched < from + concurrency &&
          (buffered < maxBuffered || launched === from)
        ) {
          const i = launched++;
          const p = fetchSegment(
            storage,
            run[i]!.key,
            run[i]!.seq,
            streamAbove,
            options.maxFileSize,
            round.controller.signal,
          ).then((f) => {
            if (f?.kind === 'memory') buffered += f.bytes.length;
            return f;
          });
          p.catch(() => undefined);
          pending.set(i, p);
        }
      };
      for (let i = 0; i < run.length; i++) {
        throwIfAborted(signal);
        fill(i);
        const fetched = await pending.get(i)!;
        pending.delete(i);
        if (fetched?.kind === 'memory') buffered -= fetched.bytes.length;
        fill(i + 1);
        if (fetched === null) {
          gapAt = run[i]!.seq;
          break;
        }
        const cur: Position = position!;
        if (fetched.kind === 'stream') {
          // Too large to hold: verified while it is written to the journal, then applied from it.
          const result = await applyStreamedSegment(dbPath, fetched.body, {
            seq: run[i]!.seq,
            expectedPrev: cur.checksum,
            acceptedEpoch: cur.epoch,
            admitEpoch: options.admitEpoch,
            maxFileSize: options.maxFileSize,
            signal,
          });
          if (result.kind === 'chain-broken') {
            if (allowRestore && (await snapshotAtOrAfter(run[i]!.seq))) {
              lineageSwitch = true;
              break;
            }
            if (cur === local)
              throw await brokenLinkError(storage, prefix, db, cur, { seq: run[i]!.seq, prev: result.prev }, signal);
            throw new DuckblockError(
              'HADB_DUCKBLOCK_CHAIN_BROKEN',
              `${db}: segment ${run[i]!.seq} has prev_checksum ${hex(result.prev)}, position ${cur.seq} has ${hex(cur.checksum)}`,
            );
          }
          position = result.position;
          applied++;
          bytes += result.bytes;
          await options.onApplied?.(position, 'segment');
          continue;
        }
        const cs = fetched.segment.changeset;
        if (cs.header.prevChecksum !== cur.checksum) {
          // A new lineage (a leader's `startLineage` restarted the chain) comes with a snapshot at or after
          // the break: restore it. Without one, stop: never skip or guess.
          if (allowRestore && (await snapshotAtOrAfter(cs.header.seq))) {
            lineageSwitch = true;
            break;
          }
          if (cur === local) {
            const next = { seq: cs.header.seq, prev: cs.header.prevChecksum };
            throw await brokenLinkError(storage, prefix, db, cur, next, signal);
          }
          throw new DuckblockError(
            'HADB_DUCKBLOCK_CHAIN_BROKEN',
            `${db}: segment ${cs.header.seq} has prev_checksum ${hex(cs.header.prevChecksum)}, position ${cur.seq} has ${hex(cur.checksum)}`,
          );
        }
        if (fetched.segment.epoch < cur.epoch) {
          throw new DuckblockError(
            'HADB_DUCKBLOCK_FENCED',
            `${db}: segment ${cs.header.seq} was written under epoch ${fetched.segment.epoch}, below accepted epoch ${cur.epoch}`,
          );
        }
        options.admitEpoch?.(fetched.segment.epoch, cs.header.seq);
        position = await applySegmentDurably(dbPath, fetched.bytes, fetched.segment);
        applied++;
        bytes += fetched.bytes.length;
        await options.onApplied?.(position, 'segment');
      }
    } finally {
      round.controller.abort();
      round.dispose();
      for (const p of pending.values()) {
        void p
          .then((f) => (f?.kind === 'stream' ? f.body[Symbol.asyncIterator]().return?.() : undefined))
          .catch(() => undefined);
      }
    }
    if (lineageSwitch) {
      if (await restoreLatest()) continue;
      throw new DuckblockError(
        'HADB_DUCKBLOCK_CHAIN_BROKEN',
        `${db}: chain broken after seq ${position!.seq} and no snapshot covers it`,
      );
    }
    if (gapAt !== null) {
      // Deleted between listing and download (retention): retry from the new state.
      continue;
    }
    if (run.length === found.length || applied >= maxSegments) break;
  }
  return { position, applied, restored, bytes, listed: true };
}

/** Size and header page hashes of the local file, or `null` when it does not exist. */
async function localState(dbPath: string): Promise<{ fileSize: number; headerHashes: string[] } | null> {
  let fh;
  try {
    fh = await open(dbPath, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const { size } = await fh.stat();
    const region = new Uint8Array(HEADER_REGION_SIZE);
    const { bytesRead } = await fh.read(region, 0, region.length, 0);
    const headerHashes: string[] = [];
    for (let p = 0; p < 3; p++) {
      headerHashes.push(
        createHash('sha256')
          .update(region.subarray(p * PAGE_SIZE, Math.min((p + 1) * PAGE_SIZE, bytesRead)))
          .digest('hex'),
      );
    }
    return { fileSize: size, headerHashes };
  } finally {
    await fh.close();
  }
}

function hex(v: bigint): string {
  return `0x${v.toString(16).padStart(16, '0')}`;
}
