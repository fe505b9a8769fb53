import {
  closeSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { systemClock } from './clock.js';
import { abortedError } from './errors.js';
import { currentProcessOwner, isCertainlyDead, isProcessOwner, type ProcessOwner } from './process-owner.js';

/** Extra fields a lock file records beside its owner (strings only; `undefined` leaves one out). */
export type LockFields = Readonly<Record<string, string | undefined>>;

/** Who a lock file names: the owning process and the fields recorded with it. */
export interface LockHolder {
  readonly owner: ProcessOwner;
  readonly fields: LockFields;
}

/** Options of {@link OwnedLockFile.acquire}. */
export interface OwnedLockFileOptions {
  /** Recorded beside the owner. */
  readonly fields?: LockFields | undefined;
  /** How often the holder refreshes the file's modification time, ms. Default 5000. */
  readonly heartbeatMs?: number | undefined;
  /**
   * A lock held from another pid namespace of this host (a container restarted on the same
   * volume, which cannot see the old process) whose modification time did not move for this
   * long is stale, ms. Default 30000.
   */
  readonly staleMs?: number | undefined;
  /** Cuts the wait for a watched heartbeat (see `staleMs`): `acquire` then throws, holding nothing. */
  readonly signal?: AbortSignal | undefined;
}

/** What {@link OwnedLockFile.acquire} found: the lock, or the live holder that keeps it. */
export type LockAttempt =
  | { readonly lock: OwnedLockFile; readonly held?: undefined }
  | { readonly lock?: undefined; readonly held: LockHolder | undefined };

function encode(owner: ProcessOwner, fields: LockFields): string {
  return JSON.stringify({ ...fields, ...owner });
}

/** The keys of a {@link ProcessOwner}: recorded beside the fields, never read back as fields. */
const OWNER_KEYS = new Set(['pid', 'start', 'boot', 'pidns', 'host', 'nonce']);

/**
 * The holder a lock file names, or undefined when it cannot be read (then it is never judged
 * stale). Files of earlier formats are read too — `{pid, host, …}` JSON, or a bare pid (this
 * host) — and judged by pid and host alone, as if from this pid namespace.
 */
function readHolder(path: string): LockHolder | undefined {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  const me = currentProcessOwner();
  const byPid = (pid: number, host: string): ProcessOwner => ({
    pid,
    host,
    start: null,
    boot: null,
    pidns: me.pidns,
    nonce: '',
  });
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value > 0 ? { owner: byPid(value, me.host), fields: {} } : undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(record)) if (typeof v === 'string' && !OWNER_KEYS.has(k)) fields[k] = v;
  if (isProcessOwner(value)) return { owner: value, fields };
  if (!Number.isSafeInteger(record.pid) || typeof record.host !== 'string') return undefined;
  return { owner: byPid(record.pid as number, record.host), fields };
}

/** Writes `text` to a new file beside `path` and syncs it; returns its path. */
function writeTemp(path: string, text: string): string {
  const me = currentProcessOwner();
  const temp = `${path}.${me.pid}-${me.nonce}.tmp`;
  const fd = openSync(temp, 'w', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return temp;
}

/**
 * Creates `path` holding `text` unless it exists; false when it does. The file appears whole
 * (a synced temporary file hard-linked into place), so a crash never leaves an empty lock that
 * nobody could judge. Where hard links are not supported, it is created with `O_EXCL` instead.
 */
function publish(path: string, text: string): boolean {
  const temp = writeTemp(path, text);
  try {
    linkSync(temp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
  } finally {
    unlinkSync(temp);
  }
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  return true;
}

function mtimeOf(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/**
 * Whether `held` at `path` is stale: its owner is certainly dead, or it is a process of another
 * pid namespace on this host and boot whose heartbeat stopped — the file's modification time did
 * not move for `staleMs` (waited for here when it moved more recently). Nothing else is stale.
 */
async function isStale(
  path: string,
  held: LockHolder,
  staleMs: number,
  signal: AbortSignal | undefined,
): Promise<boolean> {
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
  const wait = seen + staleMs - systemClock.wallMs();
  if (wait > 0) {
    try {
      await systemClock.sleep(wait, signal);
    } catch (err) {
      throw signal?.aborted === true ? abortedError(signal) : err;
    }
  }
  return mtimeOf(path) === seen;
}

/**
 * A lock file owned by one live process: created whole and exclusively, recording its owner (see
 * `currentProcessOwner`) and the caller's fields. The holder refreshes the file's modification
 * time every `heartbeatMs`. A lock whose owner is certainly dead (`isCertainlyDead`), or whose
 * owner in another pid namespace of this host stopped its heartbeat for `staleMs`, is taken
 * over, and {@link previous} names it. Anything else — a live owner, this process, an owner on
 * another host, an unreadable file — keeps the lock: `acquire` returns it as `held`.
 */
export class OwnedLockFile {
  readonly path: string;
  /** The dead holder this lock was taken over from. */
  readonly previous: LockHolder | undefined;
  readonly #heartbeat: NodeJS.Timeout;
  #held = true;

  private constructor(path: string, previous: LockHolder | undefined, heartbeatMs: number) {
    this.path = path;
    this.previous = previous;
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
   * Takes the lock at `path`, or says who holds it. Throws file-system errors, and
   * `HADB_IO_ABORTED` (or the hadb error given as the reason) once `options.signal` has fired.
   */
  static async acquire(path: string, options: OwnedLockFileOptions = {}): Promise<LockAttempt> {
    if (options.signal?.aborted === true) throw abortedError(options.signal);
    const heartbeatMs = options.heartbeatMs ?? 5000;
    const staleMs = options.staleMs ?? 30_000;
    let previous: LockHolder | undefined;
    const text = encode(currentProcessOwner(), options.fields ?? {});
    for (let attempt = 0; attempt < 2; attempt++) {
      if (publish(path, text)) return { lock: new OwnedLockFile(path, previous, heartbeatMs) };
      const held = readHolder(path);
      if (attempt === 0 && held !== undefined && (await isStale(path, held, staleMs, options.signal))) {
        previous = held;
        unlinkSync(path);
        continue;
      }
      return { held };
    }
    return { held: readHolder(path) };
  }

  /** Replaces the recorded fields; the file is replaced whole (write, then rename), never half-written. */
  record(fields: LockFields): void {
    if (!this.#held) return;
    const temp = writeTemp(this.path, encode(currentProcessOwner(), fields));
    renameSync(temp, this.path);
  }

  /** Stops the heartbeat and removes the file. Idempotent. */
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
