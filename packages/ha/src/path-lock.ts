import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { HaError } from './errors.js';

/** What a lock file records about its holder. */
interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly instanceId: string;
}

/** Path of the lock file guarding a database path and its local state. */
export function lockPath(dbPath: string): string {
  return `${dbPath}.hadb-lock`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.instanceId === 'string')
      return o as LockOwner;
  } catch {
    // Unreadable or half-written: treated as held (never guessed stale).
  }
  return undefined;
}

/**
 * An exclusive claim on a database path and its local state (`<path>.hadb-lock`, created with
 * `O_EXCL`, holding the owner's pid, host and instance id). A second claim on the same path — from
 * another process or this one — fails at once with `HADB_HA_LOCKED` and touches nothing. A lock
 * left by a dead process on this host is stale and taken over; a lock from another host (a shared
 * file system) is never guessed stale: remove it by hand once that node is gone.
 */
export class PathLock {
  readonly path: string;
  #held = true;

  private constructor(path: string) {
    this.path = path;
  }

  /** Claims `dbPath` for `instanceId`. Throws `HADB_HA_LOCKED` when another owner holds it. */
  static acquire(dbPath: string, instanceId: string): PathLock {
    const path = lockPath(dbPath);
    const me: LockOwner = { pid: process.pid, host: hostname(), instanceId };
    for (let attempt = 0; attempt < 2; attempt++) {
      let fd: number;
      try {
        fd = openSync(path, 'wx', 0o644);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = readOwner(path);
        if (
          attempt === 0 &&
          owner !== undefined &&
          owner.host === me.host &&
          owner.pid !== process.pid &&
          !alive(owner.pid)
        ) {
          // The holder died without releasing: stale.
          unlinkSync(path);
          continue;
        }
        const who =
          owner === undefined ? 'an unknown owner' : `instance ${owner.instanceId} (pid ${owner.pid} on ${owner.host})`;
        throw new HaError('HADB_HA_LOCKED', `${dbPath} is in use by ${who}; lock file ${path}`);
      }
      try {
        writeSync(fd, JSON.stringify(me));
      } finally {
        closeSync(fd);
      }
      return new PathLock(path);
    }
    throw new HaError('HADB_HA_LOCKED', `${dbPath}: could not take over the stale lock ${path}`);
  }

  /** Releases the claim. Idempotent. */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    try {
      unlinkSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
