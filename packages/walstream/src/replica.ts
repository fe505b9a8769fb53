/**
 * Crash-safe, reader-safe application of a verified changeset to a local SQLite file that other
 * processes read (a follower's replica). The replica is kept in rollback-journal mode. Under an
 * EXCLUSIVE SQLite lock (readers wait through their busy timeout) the original images of every
 * page about to change or be truncated away are written to a standard SQLite rollback journal
 * (`<file>-journal`) and synced; then the pages are written, the file is sized, synced, and the journal is deleted —
 * the commit point. If the process dies in between, the journal is "hot": SQLite rolls it back
 * on the next read-write open (read-only openers get an error, never a torn page), and the
 * follower re-applies the changeset. Page 1's file change counter is advanced on every apply so
 * readers drop their caches.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { verifyChain, type PhysicalChangeset } from '@hadb/changeset';
import Database from 'better-sqlite3';
import { corruptError, WalstreamError } from './errors.js';
import { META_PAGE_ID, changesetDbPages } from './meta.js';
import { preadSome } from './wal.js';
import { truncateTo, writePage } from './file-pages.js';
import { pinnedFd } from './pinned-files.js';

const JOURNAL_MAGIC = Uint8Array.of(0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7);
const SECTOR = 4096;

/** SQLite's journal page checksum: the nonce plus every 200th byte from the end. */
function pageChecksum(nonce: number, data: Uint8Array): number {
  let sum = nonce >>> 0;
  for (let i = data.byteLength - 200; i > 0; i -= 200) sum = (sum + data[i]!) >>> 0;
  return sum;
}

/**
 * Writes a standard SQLite rollback journal to `jfd`: a one-sector header (magic, record count,
 * checksum nonce, original size `dbPages`, sector size, page size), then for each page number in
 * `pgnos` its original image read from `fd` (number, image, checksum). Pages are read and written
 * one at a time, so a large journal never sits in memory.
 */
function writeJournal(jfd: number, fd: number, pageSize: number, dbPages: number, pgnos: readonly number[]): void {
  const nonce = randomBytes(4).readUInt32BE(0);
  const header = Buffer.alloc(SECTOR);
  header.set(JOURNAL_MAGIC, 0);
  header.writeUInt32BE(pgnos.length, 8);
  header.writeUInt32BE(nonce, 12);
  header.writeUInt32BE(dbPages, 16);
  header.writeUInt32BE(SECTOR, 20);
  header.writeUInt32BE(pageSize, 24);
  writeAll(jfd, header, 0);
  const record = Buffer.alloc(pageSize + 8);
  let off = SECTOR;
  for (const pgno of pgnos) {
    const data = preadSome(fd, pageSize, (pgno - 1) * pageSize);
    if (data.byteLength !== pageSize)
      throw new WalstreamError(
        'HADB_WALSTREAM_CORRUPT',
        `page ${pgno}: short read (${data.byteLength} of ${pageSize} bytes)`,
      );
    record.writeUInt32BE(pgno, 0);
    record.set(data, 4);
    record.writeUInt32BE(pageChecksum(nonce, data), 4 + pageSize);
    writeAll(jfd, record, off);
    off += record.byteLength;
  }
}

/**
 * The pages an apply overwrites or removes, each once, page 1 first: every changeset page that
 * exists in the current file (`oldPages` pages), and every page past `newPages` (a shrinking
 * changeset truncates them without holding them; rolling back must restore their contents, not
 * just the file size).
 */
function pagesToJournal(cs: PhysicalChangeset, oldPages: number, newPages: number): number[] {
  const seen = new Set<number>(oldPages >= 1 ? [1] : []);
  for (const page of cs.pages) {
    const pgno = Number(page.pageId);
    if (page.pageId !== META_PAGE_ID && pgno <= oldPages) seen.add(pgno);
  }
  for (let pgno = newPages + 1; pgno <= oldPages; pgno++) seen.add(pgno);
  return [...seen];
}

function writeAll(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.byteLength) done += writeSync(fd, data, done, data.byteLength - done, position + done);
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // best effort
  }
}

/** Rewrites page 1's header for a replica: rollback-journal mode, change counter `counter`. */
function patchHeader(page1: Uint8Array, counter: number): Uint8Array {
  const out = Buffer.from(page1);
  out[18] = 1;
  out[19] = 1;
  out.writeUInt32BE(counter >>> 0, 24);
  out.writeUInt32BE(counter >>> 0, 92);
  return out;
}

/**
 * Turns a freshly restored file into a replica (rollback-journal mode) before anyone reads it.
 * The file must not be open elsewhere.
 */
export function prepareReplicaFile(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    const page1 = preadSome(fd, 100, 0);
    if (page1.byteLength === 100) {
      const counter = Buffer.from(page1).readUInt32BE(24);
      writeAll(fd, patchHeader(page1, counter + 1).subarray(0, 100), 0);
      fsyncSync(fd);
    }
  } finally {
    closeSync(fd);
  }
}

/** A replica open for applying changesets (holds one SQLite connection used only for locking). */
export class ReplicaWriter {
  readonly #lock: InstanceType<typeof Database>;

  /** Opens `path` (made by {@link prepareReplicaFile}); `busyTimeoutMs` bounds the wait for readers. */
  constructor(
    readonly path: string,
    busyTimeoutMs = 5000,
  ) {
    this.#lock = new Database(path, { fileMustExist: true });
    this.#lock.pragma(`busy_timeout = ${busyTimeoutMs}`);
    // A read-write open rolls back a hot journal left by a crashed apply.
    this.#lock.prepare('SELECT count(*) FROM sqlite_schema').get();
  }

  /**
   * Applies `cs` if it continues the chain at `expectedPrev` (else `HADB_WALSTREAM_CORRUPT`,
   * nothing written) and returns its checksum. Idempotent: re-applying the last changeset after
   * a crash gives the same file. `hooks.afterPages` runs after the new pages are written and
   * before the commit point (fault injection in tests: a throw there leaves a hot journal, as a
   * crash would).
   */
  apply(cs: PhysicalChangeset, expectedPrev: bigint, hooks: { readonly afterPages?: () => void } = {}): bigint {
    try {
      verifyChain(expectedPrev, cs);
    } catch (err) {
      throw corruptError(
        `${this.path}: changeset ${cs.header.seq} does not continue the replica's chain: ${(err as Error).message}`,
        err,
      );
    }
    const where = `changeset ${cs.header.seq}`;
    const newPages = changesetDbPages(cs, where);
    const pageSize = cs.header.pageSize;
    this.#lock.exec('BEGIN EXCLUSIVE');
    this.#lock.prepare('SELECT count(*) FROM sqlite_schema').get();
    const journal = `${this.path}-journal`;
    try {
      // Never closed: closing would drop this process's SQLite locks on the file (see pinned-files).
      const fd = pinnedFd(this.path, true);
      const size = fstatSync(fd).size;
      if (size % pageSize !== 0)
        throw new WalstreamError(
          'HADB_WALSTREAM_CORRUPT',
          `${this.path}: size ${size} is not a multiple of page size ${pageSize}`,
        );
      const oldPages = size / pageSize;
      const page1 = preadSome(fd, pageSize, 0);
      const jfd = openSync(journal, 'w');
      try {
        writeJournal(jfd, fd, pageSize, oldPages, pagesToJournal(cs, oldPages, newPages));
        fsyncSync(jfd);
      } finally {
        closeSync(jfd);
      }
      fsyncDir(dirname(this.path));
      const counter = Buffer.from(page1).readUInt32BE(24) + 1;
      let wrotePage1 = false;
      for (const page of cs.pages) {
        if (page.pageId === 1n) {
          writePage(fd, pageSize, { pageId: 1n, data: patchHeader(page.data, counter) }, where);
          wrotePage1 = true;
        } else {
          writePage(fd, pageSize, page, where);
        }
      }
      if (!wrotePage1) writeAll(fd, patchHeader(page1, counter).subarray(0, 100), 0);
      truncateTo(fd, pageSize, newPages);
      fsyncSync(fd);
      hooks.afterPages?.();
      rmSync(journal);
      fsyncDir(dirname(this.path));
    } finally {
      this.#lock.exec('ROLLBACK');
    }
    return cs.checksum;
  }

  close(): void {
    this.#lock.close();
  }
}
