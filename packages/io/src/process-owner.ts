import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * A process as the holder of a lock or a claim: enough to tell, from another process on the same
 * host, whether the holder is certainly dead. Written into lock files as JSON.
 */
export interface ProcessOwner {
  readonly pid: number;
  /** Process start time in clock ticks since boot (Linux `/proc/<pid>/stat` field 22), or null. */
  readonly start: string | null;
  /** Kernel boot id (Linux), or null. */
  readonly boot: string | null;
  /** PID namespace (Linux `/proc/self/ns/pid` link), or null. */
  readonly pidns: string | null;
  readonly host: string;
  /** Random per process, to tell this process's locks from a recycled pid's. */
  readonly nonce: string;
}

function tryRead(read: () => string): string | null {
  try {
    return read().trim();
  } catch {
    return null;
  }
}

/**
 * State (field 3) and start time in clock ticks since boot (field 22) of `/proc/<pid>/stat`, or
 * null where there is no procfs. The command name (field 2) may contain spaces and parentheses.
 */
export function processStat(pid: number): { state: string; start: string } | null {
  const stat = tryRead(() => readFileSync(`/proc/${pid}/stat`, 'utf8'));
  if (stat === null) return null;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const start = fields[19];
  return state === undefined || start === undefined ? null : { state, start };
}

let self: ProcessOwner | undefined;

/** This process as a lock owner (computed once per process). */
export function currentProcessOwner(): ProcessOwner {
  self ??= {
    pid: process.pid,
    start: processStat(process.pid)?.start ?? null,
    boot: tryRead(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8')),
    pidns: tryRead(() => readlinkSync('/proc/self/ns/pid')),
    host: hostname(),
    nonce: randomBytes(8).toString('hex'),
  };
  return self;
}

/** Whether a parsed JSON value is a {@link ProcessOwner} record. */
export function isProcessOwner(value: unknown): value is ProcessOwner {
  const v = value as Record<string, unknown>;
  return (
    typeof v === 'object' &&
    v !== null &&
    Number.isSafeInteger(v.pid) &&
    typeof v.host === 'string' &&
    typeof v.nonce === 'string'
  );
}

/** The owner a lock file's JSON names, or null when the text is not one. */
export function parseProcessOwner(text: string): ProcessOwner | null {
  try {
    const value: unknown = JSON.parse(text);
    return isProcessOwner(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * True only when `owner` is certainly gone: same host and pid namespace, and either the host
 * rebooted since, or no process has the pid, or it is a zombie, or the pid now belongs to a process
 * that started at a different time. Anything it cannot judge (another host or pid namespace)
 * counts as alive, so a lock is never broken on a guess.
 */
export function isCertainlyDead(owner: ProcessOwner): boolean {
  const me = currentProcessOwner();
  if (owner.host !== me.host) return false;
  if (owner.boot !== null && me.boot !== null && owner.boot !== me.boot) return true;
  if (owner.pidns !== me.pidns) return false;
  if (owner.pid === me.pid) return owner.nonce !== me.nonce && owner.start !== me.start;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return true;
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = processStat(owner.pid);
  if (stat === null) return false;
  // A zombie (killed, not yet reaped by its parent) or a recycled pid does not hold anything.
  if (stat.state === 'Z' || stat.state === 'X') return true;
  return owner.start !== null && stat.start !== owner.start;
}
