import {
  closeSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { currentProcessOwner, isCertainlyDead, parseProcessOwner, systemClock, type ProcessOwner } from '@hadb/io';
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

/** Timing of the lock file's heartbeat (its modification time, refreshed by the holder). */
export interface PathLockTiming {
  /** How often the holder refreshes the lock file's modification time, ms. Default 5000. */
  readonly heartbeatMs?: number | undefined;
  /**
   * A lock held from another pid namespace of this host (a container that restarted) whose
   * modification time did not move for this long is stale, ms. Default 30000.
   */
  readonly staleMs?: number | undefined;
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

/** Modification time of `path` in ms, or undefined when it is gone. */
function mtimeOf(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/**
 * Whether the lock `held` at `path` is stale: its holder is certainly dead, or it is a process of
 * another pid namespace on this host (which this one cannot see: a container restarted with the
 * same volume) whose heartbeat stopped — its modification time did not move for `staleMs`, waited
 * for here when it moved more recently. Anything else (another host) is never judged stale.
 */
async function isStale(path: string, held: LockRecord, staleMs: number): Promise<boolean> {
  if (isCertainlyDead(held.owner)) return true;
  const me = currentProcessOwner();
  const otherNamespaceHere =
    held.owner.host === me.host &&
    held.owner.boot !== null &&
    held.owner.boot === me.boot &&
    held.owner.pidns !== me.pidns;
  if (!otherNamespaceHere) return false;
  const seen = mtimeOf(path);
  if (seen === undefined) return true;
  const wait = seen + staleMs - Date.now();
  if (wait > 0) await systemClock.sleep(wait);
  return mtimeOf(path) === seen;
}

/**
 * An exclusive claim on a database path and its local state (`<path>.hadb-lock`, created with
 * `O_EXCL`, recording its holder as a {@link ProcessOwner} and the node's instance id). A second
 * claim on the same path — from another process or this one — fails at once with `HADB_HA_LOCKED`
 * and touches nothing. A lock whose holder is certainly dead (see `isCertainlyDead`: same host and
 * pid namespace, and the process is gone), or whose holder in another pid namespace of this host
 * stopped its heartbeat (the holder refreshes the file's modification time every `heartbeatMs`),
 * is taken over, and {@link deadHolder} says who held it. A lock from another host is never
 * guessed stale: remove it by hand once that node is gone.
 */
export class PathLock {
  readonly path: string;
  readonly #instanceId: string;
  /** Who held the path before, when this lock was taken over from a dead process. */
  readonly deadHolder: DeadHolder | undefined;
  readonly #heartbeat: NodeJS.Timeout;
  #held = true;

  private constructor(path: string, instanceId: string, deadHolder: DeadHolder | undefined, heartbeatMs: number) {
    this.path = path;
    this.#instanceId = instanceId;
    this.deadHolder = deadHolder;
    // Tells a process in another pid namespace, which cannot see this one, that the holder lives.
    this.#heartbeat = setInterval(() => {
      try {
        const now = new Date();
        utimesSync(path, now, now);
      } catch {
        // Removed by hand, or a read-only moment: the next beat tries again.
      }
    }, heartbeatMs);
    this.#heartbeat.unref();
  }

  /**
   * Claims `dbPath` for `instanceId`. Throws `HADB_HA_LOCKED` when another owner holds it. A lock
   * held from another pid namespace of this host is watched for up to `staleMs` from its last
   * heartbeat: taken over if the heartbeat stopped, `HADB_HA_LOCKED` if it moved.
   */
  static async acquire(dbPath: string, instanceId: string, timing: PathLockTiming = {}): Promise<PathLock> {
    const path = lockPath(dbPath);
    const heartbeatMs = timing.heartbeatMs ?? 5000;
    const staleMs = timing.staleMs ?? 30_000;
    const me: LockRecord = { owner: currentProcessOwner(), instanceId };
    let dead: DeadHolder | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      let fd: number;
      try {
        fd = openSync(path, 'wx', 0o644);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const held = readRecord(path);
        if (attempt === 0 && held !== undefined && (await isStale(path, held, staleMs))) {
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
      return new PathLock(path, instanceId, dead, heartbeatMs);
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
    clearInterval(this.#heartbeat);
    try {
      unlinkSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
