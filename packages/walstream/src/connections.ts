/**
 * The two SQLite connections a replicator holds on the database: `reader` keeps a read
 * transaction open at all times (except inside walstream's own checkpoint), so no other
 * connection can restart the WAL over frames not yet read; `writer` takes the write lock for the
 * moments of a checkpoint that need it, so no commit can slip between the last read and what
 * follows, and runs the checkpoints that backfill only up to the reader's transaction.
 */
import Database from 'better-sqlite3';
import { WalstreamError } from './errors.js';

type Db = InstanceType<typeof Database>;

/** Connections of one replicated database. */
export class Connections {
  readonly reader: Db;
  readonly writer: Db;
  #reading = false;

  /** `lockWaitMs`: how long {@link tryLockWrites} waits for a writer to finish. */
  constructor(
    readonly path: string,
    lockWaitMs: number,
  ) {
    let reader: Db | undefined;
    try {
      reader = new Database(path, { fileMustExist: true });
      reader.pragma('busy_timeout = 5000');
      const mode = String(reader.pragma('journal_mode = WAL', { simple: true }));
      if (mode.toLowerCase() !== 'wal') {
        throw new WalstreamError(
          'HADB_WALSTREAM_NOT_WAL',
          `${path}: could not switch to WAL mode (journal_mode is ${mode})`,
        );
      }
      reader.pragma('wal_autocheckpoint = 0');
      reader.pragma('cache_size = -64');
      const writer = new Database(path, { fileMustExist: true });
      writer.pragma(`busy_timeout = ${lockWaitMs}`);
      writer.pragma('wal_autocheckpoint = 0');
      writer.pragma('cache_size = -64');
      this.reader = reader;
      this.writer = writer;
    } catch (err) {
      reader?.close();
      if (err instanceof WalstreamError) throw err;
      throw new WalstreamError(
        'HADB_WALSTREAM_NOT_WAL',
        `${path}: cannot open as a SQLite database: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  /** Starts (or keeps) the long-lived read transaction. */
  holdRead(): void {
    if (this.#reading) return;
    this.reader.exec('BEGIN');
    this.reader.prepare('SELECT count(*) FROM sqlite_schema').get();
    this.#reading = true;
  }

  /** Ends the read transaction. */
  releaseRead(): void {
    if (!this.#reading) return;
    this.#reading = false;
    this.reader.exec('COMMIT');
  }

  /** Takes the write lock, waiting up to the constructor's `lockWaitMs` for a writer to finish; false if it still holds it. */
  tryLockWrites(): boolean {
    try {
      this.writer.exec('BEGIN IMMEDIATE');
      return true;
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY') === true) return false;
      throw err;
    }
  }

  /** Releases the write lock (nothing was written). */
  unlockWrites(): void {
    if (this.writer.inTransaction) this.writer.exec('ROLLBACK');
  }

  /** `PRAGMA data_version` of the reader (changes when another connection commits). */
  dataVersion(): number {
    return Number(this.reader.pragma('data_version', { simple: true }));
  }

  /** Runs a checkpoint on the reader (outside its read transaction); returns `[busy, log, checkpointed]`. */
  checkpoint(mode: 'PASSIVE' | 'TRUNCATE'): [number, number, number] {
    return runCheckpoint(this.reader, mode);
  }

  /**
   * Runs a checkpoint on the writer (outside a write lock), while the reader keeps its read
   * transaction: it moves frames only up to where that transaction reads. Returns `[busy, log, checkpointed]`.
   */
  checkpointOther(mode: 'PASSIVE'): [number, number, number] {
    return runCheckpoint(this.writer, mode);
  }

  close(): void {
    try {
      this.unlockWrites();
      this.releaseRead();
    } finally {
      this.writer.close();
      this.reader.close();
    }
  }
}

function runCheckpoint(db: Db, mode: 'PASSIVE' | 'TRUNCATE'): [number, number, number] {
  const row = db.pragma(`wal_checkpoint(${mode})`) as Array<{ busy: number; log: number; checkpointed: number }>;
  const r = row[0] ?? { busy: 1, log: -1, checkpointed: -1 };
  return [r.busy, r.log, r.checkpointed];
}
