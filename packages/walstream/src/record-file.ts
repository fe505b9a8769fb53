/** A small local file rewritten often (a position), kept open and overwritten in place. */
import { closeSync, openSync, renameSync, writeSync } from 'node:fs';

/** The record size: the text is padded with spaces to a whole number of these. */
const RECORD_BYTES = 512;

/**
 * A file holding one text record (JSON: trailing spaces are whitespace), rewritten after every
 * shipped or applied changeset. The first write creates the file whole (temp file, rename) with
 * the text padded to a multiple of 512 bytes and keeps it open; later writes overwrite that
 * record in place with one positional write of the same length (a longer text makes a new file
 * again). A record of one 512-byte sector is replaced whole, even by a crash of the process; a
 * rename over the file on every write would start the file system's writeback of the new file
 * each time.
 *
 * Not fsynced: use it only for a record whose loss, staleness or corruption its reader detects
 * and recovers from. Nobody else may replace the file while it is open here; {@link close}
 * releases it, and a write after that creates the file anew.
 */
export class RecordFile {
  readonly path: string;
  #fd: number | undefined;
  /** Bytes of the open file's record. */
  #size = 0;

  constructor(path: string) {
    this.path = path;
  }

  /** Replaces the record. Throws the file system's error (the record is then unchanged or gone). */
  write(text: string): void {
    const bytes = Buffer.from(text);
    if (this.#fd !== undefined && bytes.length <= this.#size) {
      writeRecord(this.#fd, padded(bytes, this.#size));
      return;
    }
    this.close();
    const size = Math.ceil(Math.max(bytes.length, 1) / RECORD_BYTES) * RECORD_BYTES;
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeRecord(fd, padded(bytes, size));
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    this.#fd = openSync(this.path, 'r+');
    this.#size = size;
  }

  /** Closes the file. Idempotent. */
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
