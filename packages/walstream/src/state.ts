/** The replicator's local position, persisted next to the database as `<db>-walstream.json`. */
import { closeSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';

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

/** The state file's record size: its JSON padded with spaces to a whole number of these. */
const RECORD_BYTES = 512;

/** The state as its file's JSON (`loadState` reads it; trailing whitespace is allowed). */
function encodeState(state: LocalState): string {
  return JSON.stringify({
    version: 1,
    seq: state.seq.toString(),
    checksum: state.checksum.toString(16),
    pageSize: state.pageSize,
    wal: state.wal,
    closedFile: state.closedFile,
  });
}

/**
 * Writes one database's state file (`<db>-walstream.json`), which the replicator rewrites after
 * every shipped changeset. The first write creates the file whole (temp file, rename) with the
 * JSON padded to a multiple of 512 bytes and keeps it open; later writes overwrite that record in
 * place with one positional write of the same length (a longer record makes a new file again).
 * A record of one 512-byte sector is replaced whole, even by a crash of the process; a rename
 * over the file on every ship would start the file system's writeback of the new file each time.
 *
 * Not fsynced on purpose: a lost, stale or torn state file only makes the next start take a
 * new-lineage snapshot (the replicator never resumes on a position that storage or the WAL does
 * not confirm), and syncing it on every shipped changeset would cost a disk flush per commit
 * batch. The file must not be replaced by anyone else while it is open here (the replicator
 * holds the database); {@link close} releases it.
 */
export class StateFile {
  readonly #path: string;
  #fd: number | undefined;
  /** Bytes of the open file's record. */
  #size = 0;

  constructor(dbPath: string) {
    this.#path = statePath(dbPath);
  }

  /** Replaces the recorded state. Throws the file system's error (the record is then unchanged or gone). */
  save(state: LocalState): void {
    const text = Buffer.from(encodeState(state));
    if (this.#fd !== undefined && text.length <= this.#size) {
      writeRecord(this.#fd, padded(text, this.#size));
      return;
    }
    this.close();
    const size = Math.ceil(Math.max(text.length, 1) / RECORD_BYTES) * RECORD_BYTES;
    const tmp = `${this.#path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeRecord(fd, padded(text, size));
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.#path);
    this.#fd = openSync(this.#path, 'r+');
    this.#size = size;
  }

  /** Closes the file (a later {@link save} creates it anew). Idempotent. */
  close(): void {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) closeSync(fd);
  }
}

function padded(text: Buffer, size: number): Buffer {
  const out = Buffer.alloc(size, 0x20);
  text.copy(out);
  return out;
}

/** Writes `record` at offset 0 of `fd`, whole. */
function writeRecord(fd: number, record: Buffer): void {
  let done = 0;
  while (done < record.length) done += writeSync(fd, record, done, record.length - done, done);
}
