/**
 * Restore: the latest state, or the state at a sequence or a time. The newest snapshot at or
 * before the target is streamed into a temporary file, the incrementals after it are downloaded
 * in parallel (bounded) and applied in order, each verified against the chain; the result is
 * checked by SQLite and only then renamed into place.
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  DEFAULT_WORKER_MIN_BYTES,
  downloadPhysical,
  restorePhysicalRanged,
  type PhysicalChangeset,
} from '@hadb/changeset';
import { childController, configChecker, throwIfAborted } from '@hadb/io';
import type { StorageBackend } from '@hadb/storage';
import Database from 'better-sqlite3';
import { abortedError, configError, corruptError, WalstreamError } from './errors.js';
import { PageRunWriter, truncateTo } from './file-pages.js';
import { listRemote, readRemoteHeader, type RemoteEntry } from './remote.js';
import { readRemoteMeta } from './fencing.js';
import { changesetMeta, META_PAGE_ID, parseMetaFull } from './meta.js';

/** What to restore. */
export interface RestoreOptions {
  readonly storage: StorageBackend;
  /** Key prefix used when replicating. Default `''`. */
  readonly prefix?: string | undefined;
  /** Database name in storage. */
  readonly name: string;
  /** File to create. Its `-wal` and `-shm` companions are removed when it is replaced. */
  readonly output: string;
  /** Restore the state as of this sequence (the newest changeset with `seq ≤` this). */
  readonly seq?: bigint | undefined;
  /** Restore the state as of this time (ms since the epoch): changesets created at or before it. */
  readonly time?: number | Date | undefined;
  /** If `output` exists, do nothing and return `{ skipped: true }`. */
  readonly ifNotExists?: boolean | undefined;
  /** Replace an existing `output` (never while another process has it open). Default false. */
  readonly overwrite?: boolean | undefined;
  /** SQLite check of the result before it is installed. Default `'quick'`. */
  readonly integrity?: 'quick' | 'full' | 'none' | undefined;
  /**
   * Lowest writer epoch to accept (see `fencing.ts`): older snapshots are skipped, and the restore
   * stops before an incremental of an older epoch than one already applied or than this. Default 0.
   */
  readonly minEpoch?: bigint | number | undefined;
  /** Incremental downloads in flight. Default 8. */
  readonly concurrency?: number | undefined;
  /** Ranged GETs of the snapshot in flight. Default 4. */
  readonly snapshotConcurrency?: number | undefined;
  /** Bytes per ranged GET of the snapshot. Default 8 MiB; memory is about concurrency × this. */
  readonly snapshotRangeBytes?: number | undefined;
  /** Snapshots of at least this many bytes are hashed on a worker thread (default 128 MiB; 0 = always). */
  readonly snapshotWorkerMinBytes?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Called after the snapshot and after each incremental. */
  readonly onProgress?: ((progress: RestoreProgress) => void) | undefined;
}

/** Progress of a restore. */
export interface RestoreProgress {
  readonly phase: 'snapshot' | 'incremental';
  readonly seq: bigint;
  /** Incrementals applied so far, and how many are planned (for a time target, an upper bound). */
  readonly applied: number;
  readonly planned: number;
  readonly bytes: number;
}

/** Result of {@link restore}. */
export type RestoreResult =
  | { readonly skipped: true }
  | {
      readonly skipped: false;
      /** Sequence the file now reflects. */
      readonly seq: bigint;
      readonly snapshotSeq: bigint;
      readonly incrementals: number;
      readonly pageSize: number;
      readonly dbPages: number;
      /** `created_ms` of the last changeset applied. */
      readonly createdMs: number;
      /** Bytes downloaded. */
      readonly bytes: number;
      /** Chain checksum at `seq` (where a follower continues). */
      readonly checksum: bigint;
      /** Highest writer epoch among the applied snapshot and incrementals (0 when written without terms). */
      readonly epoch: bigint;
    };

/** A decode failure is corruption; a failure of the source (storage, abort) passes through as it was. */
function snapshotError(err: unknown, key: string, signal?: AbortSignal): Error {
  if (err instanceof WalstreamError) return err;
  if (signal?.aborted) return new WalstreamError('HADB_WALSTREAM_ABORTED', 'restore aborted', { cause: err });
  const e = err as { code?: string; cause?: unknown; message?: string };
  if (e.code === 'HADB_CHANGESET_IO' && e.cause instanceof Error) return e.cause;
  if (e.code === 'HADB_CHANGESET_ABORTED')
    return new WalstreamError('HADB_WALSTREAM_ABORTED', 'restore aborted', { cause: err });
  // The hash worker failed: nothing is known about the snapshot's bytes.
  if (e.code === 'HADB_CHANGESET_WORKER_FAILED') return err as Error;
  if (typeof e.code === 'string' && e.code.startsWith('HADB_CHANGESET_'))
    return corruptError(`snapshot ${key}: ${e.message ?? ''}`, err);
  return err as Error;
}

function timeOf(t: number | Date | undefined): number | undefined {
  return t instanceof Date ? t.getTime() : t;
}

/** Chooses the newest snapshot at or before the target. */
async function pickSnapshot(
  storage: StorageBackend,
  snapshots: readonly RemoteEntry[],
  seq: bigint | undefined,
  time: number | undefined,
  minEpoch: bigint,
  signal: AbortSignal | undefined,
): Promise<RemoteEntry | null> {
  for (let i = snapshots.length - 1; i >= 0; i--) {
    const s = snapshots[i]!;
    if (seq !== undefined && s.seq > seq) continue;
    if (minEpoch > 0n) {
      const m = await readRemoteMeta(storage, s.key, { signal });
      if (m === null || m.epoch < minEpoch) continue;
    }
    if (time !== undefined) {
      const h = await readRemoteHeader(storage, s.key, { signal });
      if (h === null || h.createdMs > time) continue;
    }
    return s;
  }
  return null;
}

/** Restores a database from storage (see {@link RestoreOptions}). */
export async function restore(options: RestoreOptions): Promise<RestoreResult> {
  const { storage, name, output, signal } = options;
  const prefix = options.prefix ?? '';
  const time = timeOf(options.time);
  const concurrency = options.concurrency ?? 8;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new WalstreamError(
      'HADB_WALSTREAM_INVALID_CONFIG',
      `concurrency must be an integer >= 1, got ${concurrency}`,
    );
  }
  const check = configChecker(configError);
  const snapshotConcurrency = check.int('snapshotConcurrency', options.snapshotConcurrency, { min: 1, default: 4 });
  const snapshotRangeBytes = check.int('snapshotRangeBytes', options.snapshotRangeBytes, {
    min: 4096,
    default: 8 << 20,
  });
  const snapshotWorkerMinBytes = check.int('snapshotWorkerMinBytes', options.snapshotWorkerMinBytes, {
    min: 0,
    default: DEFAULT_WORKER_MIN_BYTES,
  });
  if (existsSync(output)) {
    if (options.ifNotExists === true) return { skipped: true };
    if (options.overwrite !== true) throw new WalstreamError('HADB_WALSTREAM_EXISTS', `${output} already exists`);
  }
  throwIfAborted(signal, abortedError);
  const remote = await listRemote(storage, prefix, name, { signal });
  const minEpoch = BigInt(options.minEpoch ?? 0);
  const snap = await pickSnapshot(storage, remote.snapshots, options.seq, time, minEpoch, signal);
  if (snap === null) {
    throw new WalstreamError('HADB_WALSTREAM_NOT_FOUND', `no snapshot of '${name}' at or before the target`);
  }
  const candidates = remote.incrementals.filter(
    (e) => e.seq > snap.seq && (options.seq === undefined || e.seq <= options.seq),
  );
  const tmp = `${output}.walstream-restore`;
  rmSync(tmp, { force: true });
  const fh = await open(tmp, 'w+');
  const fd = fh.fd;
  let bytes = 0;
  // Incremental downloads still in flight when the restore settles (it stopped at a target, or
  // failed) are cancelled: nothing of this call keeps running after it returns.
  const prefetch = childController(signal);
  try {
    // 1. The snapshot: parallel ranged GETs, each page written once at its offset, the whole
    // object verified against its checksum before anything is installed.
    let pageSize = 0;
    let dbPages = 0;
    let epoch = 0n;
    let ranged;
    try {
      ranged = await restorePhysicalRanged(
        storage,
        snap.key,
        fh,
        {
          begin(h) {
            pageSize = h.pageSize;
          },
          place(pageId, dataLen) {
            if (pageId === META_PAGE_ID) return undefined;
            if (dataLen !== pageSize) {
              throw corruptError(`${snap.key}: page ${pageId} has ${dataLen} bytes, expected ${pageSize}`);
            }
            return (Number(pageId) - 1) * pageSize;
          },
          entry(page) {
            const meta = parseMetaFull(page.data, snap.key);
            dbPages = meta.dbPages;
            epoch = meta.epoch;
          },
        },
        {
          signal,
          concurrency: snapshotConcurrency,
          rangeBytes: snapshotRangeBytes,
          workerMinBytes: snapshotWorkerMinBytes,
        },
      );
    } catch (err) {
      throw snapshotError(err, snap.key, signal);
    }
    if (ranged === null)
      throw new WalstreamError('HADB_WALSTREAM_GAP', `snapshot ${snap.key} disappeared during restore`);
    const header = ranged.header;
    bytes += ranged.size;
    const out = new PageRunWriter(fd, pageSize);
    let chain = header.prevChecksum;
    let seq = snap.seq;
    let createdMs = Number(header.createdMs);
    let applied = 0;
    options.onProgress?.({ phase: 'snapshot', seq, applied, planned: candidates.length, bytes });
    // 2. Incrementals, prefetched `concurrency` at a time, applied in order.
    const inflight = new Map<number, Promise<PhysicalChangeset>>();
    const fetch = (i: number): void => {
      const e = candidates[i];
      if (e === undefined || inflight.has(i)) return;
      const p = downloadPhysical(storage, e.key, { signal: prefetch.controller.signal });
      p.catch(() => {});
      inflight.set(i, p);
    };
    for (let i = 0; i < candidates.length; i++) {
      for (let j = i; j < i + concurrency; j++) fetch(j);
      const entry = candidates[i]!;
      if (entry.seq !== seq + 1n) {
        if (options.seq === undefined && time === undefined) {
          throw new WalstreamError(
            'HADB_WALSTREAM_GAP',
            `'${name}': incremental ${seq + 1n} is missing (next stored is ${entry.seq})`,
          );
        }
        break;
      }
      let cs: PhysicalChangeset;
      try {
        cs = await inflight.get(i)!;
      } catch (err) {
        if ((err as { code?: string }).code === 'HADB_CHANGESET_NOT_FOUND') {
          throw new WalstreamError(
            'HADB_WALSTREAM_GAP',
            `'${name}': incremental ${entry.seq} disappeared during restore`,
            { cause: err },
          );
        }
        if ((err as { code?: string }).code?.startsWith('HADB_CHANGESET_') === true)
          throw corruptError(`${entry.key}: ${(err as Error).message}`, err);
        throw err;
      }
      inflight.delete(i);
      if (time !== undefined && Number(cs.header.createdMs) > time) break;
      const meta = changesetMeta(cs, entry.key);
      // A claim starts another lineage (never applied); an older epoch is a deposed writer's.
      if (meta.claim || meta.epoch < epoch || meta.epoch < minEpoch) break;
      // `downloadPhysical` verified the checksum from the header's own prev_checksum, so the link
      // holds exactly when that prev_checksum is the chain's (verifyChain would hash it all again).
      if (cs.header.prevChecksum !== chain) {
        throw corruptError(
          `'${name}': chain break at seq ${entry.seq}: prev_checksum ${cs.header.prevChecksum.toString(16)} does not continue ${chain.toString(16)}`,
        );
      }
      if (cs.header.pageSize !== pageSize)
        throw corruptError(`${entry.key}: page size ${cs.header.pageSize} differs from the snapshot's ${pageSize}`);
      dbPages = meta.dbPages;
      epoch = meta.epoch;
      for (const page of cs.pages) out.add(page, entry.key);
      out.flush();
      bytes += 48 + cs.pages.reduce((n, p) => n + 8 + p.data.byteLength, 0);
      chain = cs.checksum;
      seq = cs.header.seq;
      createdMs = Number(cs.header.createdMs);
      applied++;
      options.onProgress?.({ phase: 'incremental', seq, applied, planned: candidates.length, bytes });
      throwIfAborted(signal, abortedError);
    }
    if (options.seq !== undefined && time === undefined && seq !== options.seq && remote.headSeq >= options.seq) {
      throw new WalstreamError('HADB_WALSTREAM_GAP', `'${name}': cannot reach seq ${options.seq} (stopped at ${seq})`);
    }
    truncateTo(fd, pageSize, dbPages);
    await fh.sync();
    await fh.close();
    checkIntegrity(tmp, options.integrity ?? 'quick');
    if (options.overwrite === true) {
      rmSync(`${output}-wal`, { force: true });
      rmSync(`${output}-shm`, { force: true });
    }
    renameSync(tmp, output);
    fsyncDir(dirname(output));
    return {
      skipped: false,
      seq,
      snapshotSeq: snap.seq,
      incrementals: applied,
      pageSize,
      dbPages,
      createdMs,
      bytes,
      checksum: chain,
      epoch,
    };
  } catch (err) {
    await fh.close().catch(() => undefined);
    removeWithCompanions(tmp);
    throw err;
  } finally {
    prefetch.controller.abort();
    prefetch.dispose();
  }
}

/** Runs SQLite's `quick_check` or `integrity_check` on `path` (read-only); throws `HADB_WALSTREAM_INTEGRITY`. */
export function checkIntegrity(path: string, level: 'quick' | 'full' | 'none'): void {
  if (level === 'none') return;
  let db: InstanceType<typeof Database> | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    const rows = db.pragma(level === 'full' ? 'integrity_check' : 'quick_check') as Array<Record<string, string>>;
    const messages = rows.map((r) => Object.values(r)[0]);
    if (messages.length !== 1 || messages[0] !== 'ok') {
      throw new WalstreamError(
        'HADB_WALSTREAM_INTEGRITY',
        `${path}: ${level} check failed: ${messages.slice(0, 5).join('; ')}`,
      );
    }
  } catch (err) {
    if (err instanceof WalstreamError) throw err;
    throw new WalstreamError('HADB_WALSTREAM_INTEGRITY', `${path}: ${level} check failed: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    db?.close();
    rmSync(`${path}-wal`, { force: true });
    rmSync(`${path}-shm`, { force: true });
  }
}

function removeWithCompanions(path: string): void {
  for (const p of [path, `${path}-wal`, `${path}-shm`]) rmSync(p, { force: true });
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic.
  }
}
