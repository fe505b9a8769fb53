import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError } from '@hadb/storage';
import {
  type Clock,
  abortReason,
  currentProcessOwner,
  isCertainlyDead,
  parseProcessOwner,
  raceAbort,
  throwIfAborted,
} from '@hadb/io';
import { storageAborted } from '@hadb/storage';

/** Name of the directory under the storage root that holds lock tickets and owner files. */
export const LOCK_DIR_NAME = '.hadb-locks';

/** Releases a held lock. Idempotent. */
export type Release = () => Promise<void>;

/** In-process queue per lock, so a process never polls against itself. */
const local = new Map<string, Promise<void>>();
/** This process's owner file per lock root (hard-linked as each of its tickets). */
const ownerFiles = new Map<string, Promise<string>>();

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Sleeps `ms` of `clock` time; rejects with `HADB_STORAGE_ABORTED` when `signal` fires. */
async function sleep(clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await clock.sleep(ms, signal);
  } catch (error) {
    if (signal?.aborted === true) throw abortReason(signal, storageAborted);
    throw error;
  }
}

/** Where the tickets of `name` live: `<lockRoot>/<hash[0..2]>/<hash>.<n>`. */
function place(lockRoot: string, name: string): { shard: string; stem: string } {
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 40);
  return { shard: join(lockRoot, hash.slice(0, 2)), stem: `${hash}.` };
}

/**
 * Writes this process's owner record once per lock root (complete before anyone can see it, as
 * tickets are hard links to it) and returns its path. Owner files of dead processes are removed
 * by {@link sweepOwners}.
 */
function ownerFile(lockRoot: string): Promise<string> {
  let file = ownerFiles.get(lockRoot);
  if (file === undefined) {
    file = (async () => {
      const dir = join(lockRoot, 'owners');
      await mkdir(dir, { recursive: true });
      const me = currentProcessOwner();
      const path = join(dir, `${me.pid}-${me.nonce}`);
      const temp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
      const fh = await open(temp, 'wx');
      try {
        await fh.writeFile(JSON.stringify(me));
      } finally {
        await fh.close();
      }
      await link(temp, path).catch((error: unknown) => {
        if (errno(error) !== 'EEXIST') throw error;
      });
      await unlink(temp);
      return path;
    })();
    file.catch(() => ownerFiles.delete(lockRoot));
    ownerFiles.set(lockRoot, file);
  }
  return file;
}

/**
 * Makes sure this process's owner file exists under `lockRoot` and returns its tag
 * (`<pid>-<nonce>`), which temp file names carry so that {@link isOrphanTag} can tell a crashed
 * writer's leftovers from a live writer's work in progress.
 */
export async function ownerTag(lockRoot: string): Promise<string> {
  await ownerFile(lockRoot);
  const me = currentProcessOwner();
  return `${me.pid}-${me.nonce}`;
}

/**
 * True if the process with this owner tag is certainly dead: its owner file is gone (live
 * processes never remove theirs; {@link sweepOwners} removes only dead ones) or names a dead
 * process.
 */
export async function isOrphanTag(lockRoot: string, tag: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(join(lockRoot, 'owners', tag), 'utf8');
  } catch (error) {
    return errno(error) === 'ENOENT';
  }
  const owner = parseProcessOwner(text);
  return owner !== null && isCertainlyDead(owner);
}

/**
 * Removes lock tickets whose owner is certainly dead (left by crashed processes on keys nobody
 * has written since). Returns how many. Safe at any time: live tickets are kept.
 */
export async function sweepDeadTickets(lockRoot: string): Promise<number> {
  let removed = 0;
  let shards: string[];
  try {
    shards = (await readdir(lockRoot)).filter((n) => /^[0-9a-f]{2}$/.test(n));
  } catch {
    return 0;
  }
  for (const shard of shards) {
    for (const name of await readdir(join(lockRoot, shard)).catch(() => [] as string[])) {
      const path = join(lockRoot, shard, name);
      const owner = parseProcessOwner(await readFile(path, 'utf8').catch(() => ''));
      if (owner !== null && isCertainlyDead(owner)) {
        await unlink(path).catch(() => {});
        removed++;
      }
    }
  }
  return removed;
}

/** Removes owner files of processes that are certainly dead (housekeeping; safe at any time). */
export async function sweepOwners(lockRoot: string): Promise<void> {
  const dir = join(lockRoot, 'owners');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const path = join(dir, name);
    const owner = parseProcessOwner(await readFile(path, 'utf8').catch(() => ''));
    if (owner !== null && isCertainlyDead(owner)) await unlink(path).catch(() => {});
  }
}

/**
 * Takes the lock `name` (a storage key) under `lockRoot`: mutual exclusion between processes on
 * one host, over numbered tickets (like ZooKeeper's sequential nodes), surviving crashed holders.
 *
 * 1. Take a ticket: hard-link this process's owner file (pid, start time, boot id, pid namespace,
 *    host, nonce) to `<hash>.<max + 1>`. `link` fails if the name exists, so each ticket has one
 *    owner and is never seen half written.
 * 2. If a higher ticket already exists, ours was taken from a stale view: drop it and retry. So a
 *    ticket that survives this check was the highest when it was checked.
 * 3. Hold the lock once no lower ticket is alive. Lower tickets whose owner is certainly dead
 *    (`isCertainlyDead`) are removed: that is how a SIGKILLed holder stops blocking the key.
 *
 * Two holders at once would need a lower ticket created after a higher ticket's check, but a
 * ticket created while a higher one exists fails step 2. Removing a dead ticket is safe even if
 * its number was reused meanwhile, for the same reason. Holders that are alive but stuck (SIGSTOP)
 * are waited for until `timeoutMs`, then this rejects with `HADB_STORAGE_UNAVAILABLE`.
 */
export async function acquireLock(
  lockRoot: string,
  name: string,
  signal: AbortSignal | undefined,
  timeoutMs: number,
  clock: Clock,
): Promise<Release> {
  const { shard, stem } = place(lockRoot, name);
  const id = shard + stem;
  const previous = local.get(id) ?? Promise.resolve();
  let releaseLocal!: () => void;
  const mine = new Promise<void>((resolve) => {
    releaseLocal = resolve;
  });
  const tail = previous.then(() => mine);
  local.set(id, tail);
  const dropLocal = () => {
    releaseLocal();
    if (local.get(id) === tail) local.delete(id);
  };
  try {
    await raceAbort(previous, signal, storageAborted);
    const ticket = await takeTicket(lockRoot, shard, stem, signal, clock, clock.now() + timeoutMs);
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      try {
        await unlink(ticket).catch(() => {});
      } finally {
        dropLocal();
      }
    };
  } catch (error) {
    dropLocal();
    throw error;
  }
}

async function tickets(shard: string, stem: string): Promise<bigint[]> {
  let names: string[];
  try {
    names = await readdir(shard);
  } catch (error) {
    if (errno(error) === 'ENOENT') return [];
    throw error;
  }
  const out: bigint[] = [];
  for (const n of names) {
    if (!n.startsWith(stem)) continue;
    const number = n.slice(stem.length);
    if (/^[0-9]+$/.test(number)) out.push(BigInt(number));
  }
  return out;
}

async function takeTicket(
  lockRoot: string,
  shard: string,
  stem: string,
  signal: AbortSignal | undefined,
  clock: Clock,
  deadline: number,
): Promise<string> {
  let backoff = 1;
  for (;;) {
    throwIfAborted(signal, storageAborted);
    const n = (await tickets(shard, stem)).reduce((a, b) => (b > a ? b : a), 0n) + 1n;
    const path = join(shard, stem + n.toString());
    try {
      await link(await ownerFile(lockRoot), path);
    } catch (error) {
      if (errno(error) === 'EEXIST') continue;
      if (errno(error) === 'ENOENT') {
        await mkdir(shard, { recursive: true });
        ownerFiles.delete(lockRoot); // the owner file may be gone too (root wiped); recreate it
        continue;
      }
      throw error;
    }
    const seen = await tickets(shard, stem);
    if (seen.some((t) => t > n)) {
      await unlink(path).catch(() => {});
      await sleep(clock, Math.random() * backoff, signal);
      backoff = Math.min(backoff * 2, 20);
      continue;
    }
    try {
      await waitForTurn(shard, stem, n, seen, signal, clock, deadline);
    } catch (error) {
      await unlink(path).catch(() => {});
      throw error;
    }
    return path;
  }
}

async function waitForTurn(
  shard: string,
  stem: string,
  n: bigint,
  first: bigint[],
  signal: AbortSignal | undefined,
  clock: Clock,
  deadline: number,
): Promise<void> {
  let pause = 1;
  for (let seen = first; ; seen = await tickets(shard, stem)) {
    let blocked = false;
    for (const t of seen) {
      if (t >= n) continue;
      const path = join(shard, stem + t.toString());
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if (errno(error) === 'ENOENT') continue;
        throw error;
      }
      const owner = parseProcessOwner(text);
      // Tickets are links to complete files, so an unreadable one was never a live holder's.
      if (owner === null || isCertainlyDead(owner)) await unlink(path).catch(() => {});
      else blocked = true;
    }
    if (!blocked) return;
    if (clock.now() >= deadline) {
      throw new StorageError(
        'HADB_STORAGE_UNAVAILABLE',
        'timed out waiting for a key lock held by another live process',
      );
    }
    await sleep(clock, pause, signal);
    pause = Math.min(pause * 2, 25);
  }
}
