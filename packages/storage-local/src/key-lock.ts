import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, readdir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError } from '@hadb/storage';
import { abortError } from './abortable.js';
import { currentOwner, isCertainlyDead, parseOwner } from './owner.js';

/** Releases a held lock. Idempotent. */
export type Release = () => Promise<void>;

const TICKET = /^[0-9]+$/;

/** In-process queue per lock directory, so a process never polls against itself. */
const local = new Map<string, Promise<void>>();

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A mutual-exclusion lock between processes on one host, over a directory of numbered tickets
 * (like ZooKeeper's sequential nodes), that survives crashed holders:
 *
 * 1. Take a ticket: link a complete owner file (pid, start time, boot id, pid namespace, host,
 *    nonce) to the name `max + 1`; `link` fails if the name exists, so each ticket has one owner
 *    and is never seen half written.
 * 2. If a higher ticket already exists, ours was taken from a stale view: drop it and retry. So a
 *    ticket that survives this check was the highest when it was checked.
 * 3. Hold the lock once no lower ticket is alive. Lower tickets whose owner is certainly dead
 *    (see `isCertainlyDead`) are removed, which is how a SIGKILLed holder stops blocking the key.
 *
 * Two holders at once would need a lower ticket created after a higher ticket's check, but any
 * ticket created after a higher one exists fails step 2. Removing a dead ticket is safe even if the
 * name was reused meanwhile, for the same reason. Holders that are alive but stuck (SIGSTOP) are
 * waited for until `timeoutMs`.
 */
export async function acquireLock(dir: string, signal: AbortSignal | undefined, timeoutMs: number): Promise<Release> {
  const previous = local.get(dir) ?? Promise.resolve();
  let releaseLocal!: () => void;
  const mine = new Promise<void>((resolve) => {
    releaseLocal = resolve;
  });
  const tail = previous.then(() => mine);
  local.set(dir, tail);
  const dropLocal = () => {
    releaseLocal();
    if (local.get(dir) === tail) local.delete(dir);
  };
  try {
    await waitLocal(previous, signal);
    const ticket = await takeTicket(dir, signal, Date.now() + timeoutMs);
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      try {
        await unlink(join(dir, ticket)).catch(() => {});
        await rmdir(dir).catch(() => {});
      } finally {
        dropLocal();
      }
    };
  } catch (error) {
    dropLocal();
    throw error;
  }
}

function waitLocal(previous: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return previous;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    void previous.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

async function tickets(dir: string): Promise<bigint[]> {
  try {
    return (await readdir(dir)).filter((n) => TICKET.test(n)).map((n) => BigInt(n));
  } catch (error) {
    if (errno(error) === 'ENOENT') return [];
    throw error;
  }
}

async function writeOwnerFile(dir: string): Promise<string> {
  const temp = join(dir, `tmp-${randomBytes(8).toString('hex')}`);
  const fh = await open(temp, 'wx');
  try {
    await fh.writeFile(JSON.stringify(currentOwner()));
  } finally {
    await fh.close();
  }
  return temp;
}

async function takeTicket(dir: string, signal: AbortSignal | undefined, deadline: number): Promise<string> {
  let backoff = 1;
  for (;;) {
    if (signal?.aborted) throw abortError(signal);
    await mkdir(dir, { recursive: true });
    const existing = await tickets(dir);
    const n = existing.reduce((a, b) => (b > a ? b : a), 0n) + 1n;
    const name = n.toString();
    let temp: string;
    try {
      temp = await writeOwnerFile(dir);
    } catch (error) {
      if (errno(error) === 'ENOENT') continue; // the directory was pruned by a releasing holder
      throw error;
    }
    try {
      await link(temp, join(dir, name));
    } catch (error) {
      if (errno(error) === 'EEXIST' || errno(error) === 'ENOENT') continue;
      throw error;
    } finally {
      await unlink(temp).catch(() => {});
    }
    if ((await tickets(dir)).some((t) => t > n)) {
      await unlink(join(dir, name)).catch(() => {});
      await sleep(Math.random() * backoff, signal);
      backoff = Math.min(backoff * 2, 20);
      continue;
    }
    try {
      await waitForTurn(dir, n, signal, deadline);
    } catch (error) {
      await unlink(join(dir, name)).catch(() => {});
      throw error;
    }
    return name;
  }
}

async function waitForTurn(dir: string, n: bigint, signal: AbortSignal | undefined, deadline: number): Promise<void> {
  let pause = 1;
  for (;;) {
    const lower = (await tickets(dir)).filter((t) => t < n);
    let blocked = false;
    for (const t of lower) {
      const path = join(dir, t.toString());
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if (errno(error) === 'ENOENT') continue;
        throw error;
      }
      const owner = parseOwner(text);
      // Tickets are linked from complete files, so an unreadable one was never a live holder's.
      if (owner === null || isCertainlyDead(owner)) await unlink(path).catch(() => {});
      else blocked = true;
    }
    if (!blocked) return;
    if (Date.now() >= deadline) {
      throw new StorageError('HADB_STORAGE_UNAVAILABLE', 'timed out waiting for a key lock held by another live process');
    }
    await sleep(pause, signal);
    pause = Math.min(pause * 2, 25);
  }
}
