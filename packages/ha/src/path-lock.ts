import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { currentProcessOwner, isCertainlyDead, parseProcessOwner, type ProcessOwner } from '@hadb/io';
import { HaError } from './errors.js';

/** What a lock file records: its holder, the instance id, and (once claimed) the claim's incarnation. */
interface LockRecord {
  readonly owner: ProcessOwner;
  readonly instanceId: string;
  readonly incarnation?: string | undefined;
}

/** A holder that certainly died while it held the path, as its lock file recorded it. */
export interface DeadHolder {
  readonly instanceId: string;
  /** The incarnation of the instance claim it held, when it had recorded one. */
  readonly incarnation: string | undefined;
}

/** Path of the lock file guarding a database path and its local state. */
export function lockPath(dbPath: string): string {
  return `${dbPath}.hadb-lock`;
}

function encode(record: LockRecord): string {
  return JSON.stringify({ ...record.owner, instanceId: record.instanceId, incarnation: record.incarnation });
}

function readRecord(path: string): LockRecord | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const owner = parseProcessOwner(text);
  let fields: { instanceId?: unknown; incarnation?: unknown; pid?: unknown; host?: unknown };
  try {
    fields = JSON.parse(text) as typeof fields;
  } catch {
    return undefined; // Unreadable or half-written: treated as held (never guessed stale).
  }
  if (typeof fields !== 'object' || fields === null || typeof fields.instanceId !== 'string') return undefined;
  const incarnation = typeof fields.incarnation === 'string' ? fields.incarnation : undefined;
  if (owner !== null) return { owner, instanceId: fields.instanceId, incarnation };
  // A lock written before owners carried start times: judged by pid and host alone.
  if (!Number.isSafeInteger(fields.pid) || typeof fields.host !== 'string') return undefined;
  const me = currentProcessOwner();
  const legacy: ProcessOwner = {
    pid: fields.pid as number,
    host: fields.host,
    start: null,
    boot: null,
    pidns: me.pidns,
    nonce: '',
  };
  return { owner: legacy, instanceId: fields.instanceId, incarnation };
}

/**
 * An exclusive claim on a database path and its local state (`<path>.hadb-lock`, created with
 * `O_EXCL`, recording its holder as a {@link ProcessOwner} and the node's instance id). A second
 * claim on the same path — from another process or this one — fails at once with `HADB_HA_LOCKED`
 * and touches nothing. A lock whose holder is certainly dead (see `isCertainlyDead`: same host and
 * pid namespace, and the process is gone) is taken over, and {@link deadHolder} says who held it;
 * any lock it cannot judge (another host, another pid namespace) is never guessed stale: remove it
 * by hand once that node is gone.
 */
export class PathLock {
  readonly path: string;
  readonly #instanceId: string;
  /** Who held the path before, when this lock was taken over from a dead process. */
  readonly deadHolder: DeadHolder | undefined;
  #held = true;

  private constructor(path: string, instanceId: string, deadHolder: DeadHolder | undefined) {
    this.path = path;
    this.#instanceId = instanceId;
    this.deadHolder = deadHolder;
  }

  /** Claims `dbPath` for `instanceId`. Throws `HADB_HA_LOCKED` when another owner holds it. */
  static acquire(dbPath: string, instanceId: string): PathLock {
    const path = lockPath(dbPath);
    const me: LockRecord = { owner: currentProcessOwner(), instanceId };
    let dead: DeadHolder | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      let fd: number;
      try {
        fd = openSync(path, 'wx', 0o644);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const held = readRecord(path);
        if (attempt === 0 && held !== undefined && isCertainlyDead(held.owner)) {
          // The holder died without releasing: stale.
          dead = { instanceId: held.instanceId, incarnation: held.incarnation };
          unlinkSync(path);
          continue;
        }
        const who =
          held === undefined
            ? 'an unknown owner'
            : `instance ${held.instanceId} (pid ${held.owner.pid} on ${held.owner.host})`;
        throw new HaError('HADB_HA_LOCKED', `${dbPath} is in use by ${who}; lock file ${path}`);
      }
      try {
        writeSync(fd, encode(me));
      } finally {
        closeSync(fd);
      }
      return new PathLock(path, instanceId, dead);
    }
    throw new HaError('HADB_HA_LOCKED', `${dbPath}: could not take over the stale lock ${path}`);
  }

  /**
   * Records the incarnation of the instance claim this process holds, so that a restart after
   * this process dies can take that claim over at once. The file is replaced whole (write, then
   * rename), so it is never seen half-written.
   */
  recordIncarnation(incarnation: string): void {
    if (!this.#held) return;
    const temp = `${this.path}.tmp`;
    writeFileSync(temp, encode({ owner: currentProcessOwner(), instanceId: this.#instanceId, incarnation }), {
      mode: 0o644,
    });
    renameSync(temp, this.path);
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
