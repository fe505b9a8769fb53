import { OwnedLockFile, type OpOptions, type OwnedLockFileOptions } from '@hadb/io';
import { HaError } from './errors.js';

/** A holder that certainly died while it held the path, as its lock file recorded it. */
export interface DeadHolder {
  readonly instanceId: string;
  /** The incarnation of the instance claim it held, when it had recorded one. */
  readonly incarnation: string | undefined;
}

/** Timing of the lock file's heartbeat (see `OwnedLockFile`). */
export type PathLockTiming = Pick<OwnedLockFileOptions, 'heartbeatMs' | 'staleMs'>;

/** Path of the lock file guarding a database path and its local state. */
export function lockPath(dbPath: string): string {
  return `${dbPath}.hadb-lock`;
}

/**
 * An exclusive claim on a database path and its local state: `<path>.hadb-lock`, an
 * `OwnedLockFile` recording its holder and the node's instance id. A second claim on the same
 * path — from another process or this one — fails at once with `HADB_HA_LOCKED` and touches
 * nothing. A lock whose holder is certainly dead (same host and pid namespace, and the process is
 * gone), or whose holder in another pid namespace of this host stopped its heartbeat (a restarted
 * container), is taken over, and {@link deadHolder} says who held it. A lock from another host is
 * never guessed stale: remove it by hand once that node is gone.
 */
export class PathLock {
  readonly #file: OwnedLockFile;
  readonly #instanceId: string;

  private constructor(file: OwnedLockFile, instanceId: string) {
    this.#file = file;
    this.#instanceId = instanceId;
  }

  get path(): string {
    return this.#file.path;
  }

  /** Who held the path before, when this lock was taken over from a dead process. */
  get deadHolder(): DeadHolder | undefined {
    const previous = this.#file.previous;
    const instanceId = previous?.fields.instanceId;
    return instanceId === undefined ? undefined : { instanceId, incarnation: previous?.fields.incarnation };
  }

  /**
   * Claims `dbPath` for `instanceId`. Throws `HADB_HA_LOCKED` when another owner holds it. A lock
   * held from another pid namespace of this host is watched for up to `staleMs` from its last
   * heartbeat: taken over if the heartbeat stopped, `HADB_HA_LOCKED` if it moved. `signal` cuts
   * that wait (`HADB_IO_ABORTED`, nothing taken).
   */
  static async acquire(
    dbPath: string,
    instanceId: string,
    options: PathLockTiming & OpOptions = {},
  ): Promise<PathLock> {
    const path = lockPath(dbPath);
    const got = await OwnedLockFile.acquire(path, { ...options, fields: { instanceId } });
    if (got.lock !== undefined) return new PathLock(got.lock, instanceId);
    const held = got.held;
    const who =
      held === undefined
        ? 'an unknown owner'
        : `instance ${held.fields.instanceId ?? '?'} (pid ${held.owner.pid} on ${held.owner.host})`;
    throw new HaError('HADB_HA_LOCKED', `${dbPath} is in use by ${who}; lock file ${path}`);
  }

  /**
   * Records the incarnation of the instance claim this process holds, so that a restart after
   * this process dies can take that claim over at once.
   */
  recordIncarnation(incarnation: string): void {
    this.#file.record({ instanceId: this.#instanceId, incarnation });
  }

  /** Releases the claim. Idempotent. */
  release(): void {
    this.#file.release();
  }
}
