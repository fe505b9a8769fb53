/** The replicator's local position, persisted next to the database as `<db>-walstream.json`. */
import { readFileSync, statSync } from 'node:fs';
import type { RecordFile } from './record-file.js';

/** Where the replicator stands in the WAL. */
export interface WalPosition {
  readonly salt1: number;
  readonly salt2: number;
  /** Next frame to read (every frame before it is shipped). */
  readonly index: number;
  /** Running WAL checksum after frame `index − 1` (the header's when `index` is 0). */
  readonly cksum1: number;
  readonly cksum2: number;
}

/** True when `a` and `b` name the same place in the same log. */
export function samePosition(a: WalPosition | null, b: WalPosition | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    a.salt1 === b.salt1 && a.salt2 === b.salt2 && a.index === b.index && a.cksum1 === b.cksum1 && a.cksum2 === b.cksum2
  );
}

/** Persisted replication state of one database. */
export interface LocalState {
  /** Last sequence shipped (incremental or snapshot). */
  readonly seq: bigint;
  /** Chain checksum at `seq`: the `prev_checksum` of the next incremental. */
  readonly checksum: bigint;
  readonly pageSize: number;
  readonly wal: WalPosition | null;
  /** Size and mtime of the database file after a clean close (the WAL was checkpointed away). */
  readonly closedFile?: { readonly size: number; readonly mtimeMs: number } | undefined;
}

/** True if `dbPath` still has the size and mtime recorded at a clean close. */
export function fileUnchanged(dbPath: string, recorded: LocalState['closedFile']): boolean {
  if (recorded === undefined) return false;
  try {
    const st = statSync(dbPath);
    return st.size === recorded.size && st.mtimeMs === recorded.mtimeMs;
  } catch {
    return false;
  }
}

/** Path of the state file of `dbPath`. */
export function statePath(dbPath: string): string {
  return `${dbPath}-walstream.json`;
}

/** Reads the state file; `null` when missing or unreadable (a new lineage is then started). */
export function loadState(dbPath: string): LocalState | null {
  let text: string;
  try {
    text = readFileSync(statePath(dbPath), 'utf8');
  } catch {
    return null;
  }
  try {
    const raw = JSON.parse(text) as {
      version: number;
      seq: string;
      checksum: string;
      pageSize: number;
      wal: WalPosition | null;
      closedFile?: { size: number; mtimeMs: number };
    };
    if (raw.version !== 1) return null;
    return {
      seq: BigInt(raw.seq),
      checksum: BigInt(`0x${raw.checksum}`),
      pageSize: raw.pageSize,
      wal: raw.wal,
      closedFile: raw.closedFile,
    };
  } catch {
    return null;
  }
}

/**
 * Records `state` in its file (`<db>-walstream.json`, a {@link RecordFile} on {@link statePath}),
 * after every shipped changeset. Not fsynced on purpose: a lost, stale or torn state file only
 * makes the next start take a new-lineage snapshot (the replicator never resumes on a position
 * that storage or the WAL does not confirm), and syncing it on every shipped changeset would cost
 * a disk flush per commit batch. Throws the file system's error.
 */
export function saveState(file: RecordFile, state: LocalState): void {
  file.write(
    JSON.stringify({
      version: 1,
      seq: state.seq.toString(),
      checksum: state.checksum.toString(16),
      pageSize: state.pageSize,
      wal: state.wal,
      closedFile: state.closedFile,
    }),
  );
}
