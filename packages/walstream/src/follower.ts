/**
 * Follow mode: a continuously restored read replica. The first call restores the latest state;
 * then new incrementals are applied as they appear (each verified against the chain, applied
 * crash-safely by {@link ReplicaWriter}); when the chain cannot continue (a new lineage, a gap
 * left by retention) the replica is restored again from the newest snapshot and swapped in by
 * rename. Readers open the replica read-only (`new Database(path, { readonly: true })`).
 */
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { decodePhysical, type PhysicalChangeset } from '@hadb/changeset';
import { sleepUnlessAborted, systemClock, silentLogger, type Clock, type Logger, type OpOptions } from '@hadb/io';
import type { StorageBackend } from '@hadb/storage';
import { WalstreamError, isWalstreamError } from './errors.js';
import { changesetMeta } from './meta.js';
import { prepareReplicaFile, ReplicaWriter } from './replica.js';
import { restore } from './restore.js';
import { incrementalKey, listSnapshots } from './remote.js';
import { RecordFile } from './record-file.js';

/** Options of {@link Follower.open}. */
export interface FollowOptions {
  readonly storage: StorageBackend;
  readonly prefix?: string | undefined;
  readonly name: string;
  /** The replica file. */
  readonly output: string;
  /** Poll interval (ms). Default 1,000. */
  readonly intervalMs?: number | undefined;
  /** Longest wait for readers while applying (ms). Default 5,000. */
  readonly busyTimeoutMs?: number | undefined;
  readonly clock?: Clock | undefined;
  readonly logger?: Logger | undefined;
  /** Called after each applied changeset or re-restore. */
  /**
   * Called after each applied step. `createdMs`: wall ms at which the applied changeset was
   * captured on the writer (right after the commits it holds); absent after a restore.
   */
  readonly onApply?:
    | ((info: { readonly seq: bigint; readonly restored: boolean; readonly createdMs?: number | undefined }) => void)
    | undefined;
  /** Called when a poll fails (it is retried at the next interval), and for each refused changeset. */
  readonly onError?: ((error: unknown) => void) | undefined;
  /**
   * Lowest writer epoch to accept (see `fencing.ts`), besides the highest the replica has already
   * applied (kept in its position file). Default 0.
   */
  readonly minEpoch?: bigint | number | undefined;
  /**
   * Called with each changeset's writer epoch and sequence number before it is applied (and with a
   * restored state's); throwing refuses it. Connects an outside gate such as `@hadb/core`'s
   * `EpochGate.admit`.
   */
  readonly admitEpoch?: ((epoch: bigint, seq: bigint) => void) | undefined;
}

interface Position {
  readonly seq: bigint;
  readonly checksum: bigint;
  /** Highest writer epoch applied. */
  readonly epoch: bigint;
}

function positionPath(output: string): string {
  return `${output}-walstream-follow.json`;
}

function loadPosition(output: string): Position | null {
  try {
    const raw = JSON.parse(readFileSync(positionPath(output), 'utf8')) as {
      seq: string;
      checksum: string;
      epoch?: string;
    };
    return { seq: BigInt(raw.seq), checksum: BigInt(`0x${raw.checksum}`), epoch: BigInt(raw.epoch ?? '0') };
  } catch {
    return null;
  }
}

/**
 * Records the replica's position, overwritten in place (see `RecordFile`; not fsynced: a stale
 * position after a crash makes the follower apply the changesets after it again, and applying a
 * changeset twice gives the same file).
 */
function savePosition(file: RecordFile, p: Position): void {
  file.write(JSON.stringify({ seq: p.seq.toString(), checksum: p.checksum.toString(16), epoch: p.epoch.toString() }));
}

/** The incremental stored at `key`, decoded; `null` when there is none. */
async function fetchIncremental(
  storage: StorageBackend,
  key: string,
  signal: AbortSignal | undefined,
): Promise<PhysicalChangeset | null> {
  const object = await storage.get(key, { signal });
  return object === null ? null : decodePhysical(object.data);
}

/** A running follower. */
export class Follower {
  #position: Position;
  #writer: ReplicaWriter;
  /** `<replica>-walstream-follow.json`, rewritten after every applied changeset. */
  readonly #positionFile: RecordFile;
  readonly #controller = new AbortController();
  #loop: Promise<void> | null = null;
  #waiters: Array<{ seq: bigint; resolve: () => void }> = [];

  readonly #options: FollowOptions;

  private constructor(options: FollowOptions, position: Position, positionFile: RecordFile) {
    this.#options = options;
    this.#position = position;
    this.#positionFile = positionFile;
    this.#writer = new ReplicaWriter(options.output, options.busyTimeoutMs ?? 5000);
  }

  /** Brings the replica up to date (restoring it if needed) and starts polling. */
  static async open(options: FollowOptions, op: OpOptions = {}): Promise<Follower> {
    const positionFile = new RecordFile(positionPath(options.output));
    let follower: Follower;
    try {
      let position = existsSync(options.output) ? loadPosition(options.output) : null;
      position ??= (await Follower.#fullRestore(options, positionFile, op.signal))!;
      follower = new Follower(options, position, positionFile);
    } catch (err) {
      positionFile.close();
      throw err;
    }
    try {
      await follower.poll(op.signal);
    } catch (err) {
      await follower.close();
      throw err;
    }
    follower.#loop = follower.#run();
    return follower;
  }

  /**
   * Restores the newest state (of at least `minEpoch`) into a temporary file and swaps it in,
   * unless it would not reach past `above` (then `null`, nothing changed).
   */
  static async #fullRestore(
    options: FollowOptions,
    positionFile: RecordFile,
    signal: AbortSignal | undefined,
    minEpoch = BigInt(options.minEpoch ?? 0),
    above = -1n,
  ): Promise<Position | null> {
    const tmp = `${options.output}.walstream-follow`;
    rmSync(tmp, { force: true });
    const result = await restore({
      storage: options.storage,
      prefix: options.prefix,
      name: options.name,
      output: tmp,
      integrity: 'quick',
      minEpoch,
      signal,
    });
    if (result.skipped) throw new WalstreamError('HADB_WALSTREAM_EXISTS', `${tmp} exists`);
    if (result.seq <= above) {
      rmSync(tmp, { force: true });
      return null;
    }
    try {
      options.admitEpoch?.(result.epoch, result.seq);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    prepareReplicaFile(tmp);
    rmSync(`${options.output}-journal`, { force: true });
    renameSync(tmp, options.output);
    const position = { seq: result.seq, checksum: result.checksum, epoch: result.epoch };
    savePosition(positionFile, position);
    return position;
  }

  /** Sequence the replica reflects. */
  get seq(): bigint {
    return this.#position.seq;
  }

  /** Highest writer epoch the replica has applied (0 when written without terms). */
  get epoch(): bigint {
    return this.#position.epoch;
  }

  /** The lowest epoch the next changeset may carry. */
  #floor(): bigint {
    const min = BigInt(this.#options.minEpoch ?? 0);
    return min > this.#position.epoch ? min : this.#position.epoch;
  }

  /** Whether a changeset of `epoch` may be applied; a refusal is reported through `onError`. */
  #admits(epoch: bigint, seq: bigint): boolean {
    try {
      if (epoch < this.#floor()) {
        throw new WalstreamError(
          'HADB_WALSTREAM_STALE_EPOCH',
          `${this.#options.name}: changeset ${seq} of epoch ${epoch} refused: epoch ${this.#floor()} was already applied`,
        );
      }
      this.#options.admitEpoch?.(epoch, seq);
      return true;
    } catch (err) {
      this.#options.logger?.warn(
        { db: this.#options.name, seq, epoch, err: String(err) },
        'walstream follow: changeset refused',
      );
      this.#options.onError?.(err);
      return false;
    }
  }

  /** Resolves once the replica reflects `seq` or later. */
  waitFor(seq: bigint, options: OpOptions = {}): Promise<void> {
    if (this.#position.seq >= seq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { seq, resolve };
      this.#waiters.push(w);
      options.signal?.addEventListener(
        'abort',
        () => {
          this.#waiters = this.#waiters.filter((x) => x !== w);
          reject(new WalstreamError('HADB_WALSTREAM_ABORTED', 'waitFor aborted'));
        },
        { once: true },
      );
    });
  }

  /**
   * Applies everything new in storage now; returns the sequence reached. While the chain
   * continues it reads the next expected incremental by its key (one GET per changeset, and one
   * that finds nothing at the head) and lists nothing. Storage is listed (the snapshots only) when
   * the next key is missing before anything was applied, or holds another lineage's claim or a
   * refused changeset: a newer snapshot then means the chain cannot continue (a new lineage, or a
   * gap left by retention) and the replica is restored from it.
   */
  async poll(signal?: AbortSignal): Promise<bigint> {
    const { storage, name } = this.#options;
    const prefix = this.#options.prefix ?? '';
    let applied = 0;
    let broken = false;
    /** The next changeset starts another lineage or was refused: move only to a newer snapshot. */
    let blocked = false;
    for (;;) {
      const expected = this.#position.seq + 1n;
      const cs = await fetchIncremental(storage, incrementalKey(prefix, name, expected), signal);
      if (cs === null) break;
      if (cs.header.seq !== expected) {
        broken = true;
        break;
      }
      const meta = changesetMeta(cs, incrementalKey(prefix, name, expected));
      if (meta.claim || !this.#admits(meta.epoch, cs.header.seq)) {
        blocked = true;
        break;
      }
      try {
        this.#writer.apply(cs, this.#position.checksum);
      } catch (err) {
        if (isWalstreamError(err, 'HADB_WALSTREAM_CORRUPT')) {
          broken = true;
          break;
        }
        throw err;
      }
      this.#position = { seq: cs.header.seq, checksum: cs.checksum, epoch: meta.epoch };
      savePosition(this.#positionFile, this.#position);
      this.#options.onApply?.({ seq: this.#position.seq, restored: false, createdMs: Number(cs.header.createdMs) });
      applied++;
    }
    let above = -1n;
    if (!broken && (applied === 0 || blocked)) {
      const snapshots = await listSnapshots(storage, prefix, name, { signal });
      // Not a broken replica: only a restore that moves forward is worth swapping in.
      broken = snapshots.some((s) => s.seq > this.#position.seq);
      above = this.#position.seq;
    }
    if (broken) {
      this.#options.logger?.info(
        { db: name, seq: this.#position.seq },
        'walstream follow: chain cannot continue; restoring the newest snapshot',
      );
      const restored = await Follower.#fullRestore(this.#options, this.#positionFile, signal, this.#floor(), above);
      if (restored !== null) {
        this.#writer.close();
        this.#position = restored;
        this.#writer = new ReplicaWriter(this.#options.output, this.#options.busyTimeoutMs ?? 5000);
        this.#options.onApply?.({ seq: this.#position.seq, restored: true });
        return this.poll(signal);
      }
    }
    const ready = this.#waiters.filter((w) => w.seq <= this.#position.seq);
    this.#waiters = this.#waiters.filter((w) => w.seq > this.#position.seq);
    for (const w of ready) w.resolve();
    return this.#position.seq;
  }

  async #run(): Promise<void> {
    const clock = this.#options.clock ?? systemClock;
    const logger = this.#options.logger ?? silentLogger;
    const signal = this.#controller.signal;
    while (await sleepUnlessAborted(clock, this.#options.intervalMs ?? 1000, signal)) {
      try {
        await this.poll(signal);
      } catch (err) {
        if (signal.aborted) break;
        logger.warn({ db: this.#options.name, err: String(err) }, 'walstream follow: poll failed; retrying');
        this.#options.onError?.(err);
      }
    }
  }

  /** Stops polling and releases the replica. Idempotent. */
  async close(): Promise<void> {
    this.#controller.abort();
    await this.#loop?.catch(() => {});
    this.#loop = null;
    this.#writer.close();
    this.#positionFile.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
