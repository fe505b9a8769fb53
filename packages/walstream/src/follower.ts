/**
 * Follow mode: a continuously restored read replica. The first call restores the latest state;
 * then new incrementals are applied as they appear (each verified against the chain, applied
 * crash-safely by {@link ReplicaWriter}); when the chain cannot continue (a new lineage, a gap
 * left by retention) the replica is restored again from the newest snapshot and swapped in by
 * rename. Readers open the replica read-only (`new Database(path, { readonly: true })`).
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { discoverAfter, downloadPhysical, ChangesetKind } from '@hadb/changeset';
import { sleepUnlessAborted, systemClock, silentLogger, type Clock, type Logger, type OpOptions } from '@hadb/io';
import type { StorageBackend } from '@hadb/storage';
import { WalstreamError, isWalstreamError } from './errors.js';
import { prepareReplicaFile, ReplicaWriter } from './replica.js';
import { restore } from './restore.js';
import { listRemote } from './remote.js';

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
  /** Called when a poll fails (it is retried at the next interval). */
  readonly onError?: ((error: unknown) => void) | undefined;
}

interface Position {
  readonly seq: bigint;
  readonly checksum: bigint;
}

function positionPath(output: string): string {
  return `${output}-walstream-follow.json`;
}

function loadPosition(output: string): Position | null {
  try {
    const raw = JSON.parse(readFileSync(positionPath(output), 'utf8')) as { seq: string; checksum: string };
    return { seq: BigInt(raw.seq), checksum: BigInt(`0x${raw.checksum}`) };
  } catch {
    return null;
  }
}

function savePosition(output: string, p: Position): void {
  const path = positionPath(output);
  writeFileSync(`${path}.tmp`, JSON.stringify({ seq: p.seq.toString(), checksum: p.checksum.toString(16) }));
  renameSync(`${path}.tmp`, path);
}

/** A running follower. */
export class Follower {
  #position: Position;
  #writer: ReplicaWriter;
  readonly #controller = new AbortController();
  #loop: Promise<void> | null = null;
  #waiters: Array<{ seq: bigint; resolve: () => void }> = [];

  readonly #options: FollowOptions;

  private constructor(options: FollowOptions, position: Position) {
    this.#options = options;
    this.#position = position;
    this.#writer = new ReplicaWriter(options.output, options.busyTimeoutMs ?? 5000);
  }

  /** Brings the replica up to date (restoring it if needed) and starts polling. */
  static async open(options: FollowOptions, op: OpOptions = {}): Promise<Follower> {
    let position = existsSync(options.output) ? loadPosition(options.output) : null;
    if (position === null) position = await Follower.#fullRestore(options, op.signal);
    const follower = new Follower(options, position);
    await follower.poll(op.signal);
    follower.#loop = follower.#run();
    return follower;
  }

  static async #fullRestore(options: FollowOptions, signal: AbortSignal | undefined): Promise<Position> {
    const tmp = `${options.output}.walstream-follow`;
    rmSync(tmp, { force: true });
    const result = await restore({
      storage: options.storage,
      prefix: options.prefix,
      name: options.name,
      output: tmp,
      integrity: 'quick',
      signal,
    });
    if (result.skipped) throw new WalstreamError('HADB_WALSTREAM_EXISTS', `${tmp} exists`);
    prepareReplicaFile(tmp);
    rmSync(`${options.output}-journal`, { force: true });
    renameSync(tmp, options.output);
    const position = { seq: result.seq, checksum: result.checksum };
    savePosition(options.output, position);
    return position;
  }

  /** Sequence the replica reflects. */
  get seq(): bigint {
    return this.#position.seq;
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

  /** Applies everything new in storage now; returns the sequence reached. */
  async poll(signal?: AbortSignal): Promise<bigint> {
    const { storage, name } = this.#options;
    const prefix = this.#options.prefix ?? '';
    const next = await discoverAfter(storage, prefix, name, this.#position.seq, ChangesetKind.Physical, { signal });
    let expected = this.#position.seq + 1n;
    let broken = false;
    for (const entry of next) {
      if (entry.seq !== expected) {
        broken = true;
        break;
      }
      const cs = await downloadPhysical(storage, entry.key, { signal });
      try {
        this.#writer.apply(cs, this.#position.checksum);
      } catch (err) {
        if (isWalstreamError(err, 'HADB_WALSTREAM_CORRUPT')) {
          broken = true;
          break;
        }
        throw err;
      }
      this.#position = { seq: cs.header.seq, checksum: cs.checksum };
      savePosition(this.#options.output, this.#position);
      this.#options.onApply?.({ seq: this.#position.seq, restored: false, createdMs: Number(cs.header.createdMs) });
      expected++;
    }
    if (!broken) {
      const remote = await listRemote(storage, prefix, name, { signal });
      const newer = remote.snapshots.some((s) => s.seq > this.#position.seq);
      broken = newer && !remote.incrementals.some((i) => i.seq === this.#position.seq + 1n);
    }
    if (broken) {
      this.#options.logger?.info(
        { db: name, seq: this.#position.seq },
        'walstream follow: chain cannot continue; restoring the newest snapshot',
      );
      this.#writer.close();
      this.#position = await Follower.#fullRestore(this.#options, signal);
      this.#writer = new ReplicaWriter(this.#options.output, this.#options.busyTimeoutMs ?? 5000);
      this.#options.onApply?.({ seq: this.#position.seq, restored: true });
      return this.poll(signal);
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
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
