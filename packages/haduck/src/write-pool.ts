import type { DuckHandle } from './duck-host.js';
import { WriteConnection } from './write-connection.js';

/**
 * At most `size` {@link WriteConnection}s for requests that write side by side: `first` (the
 * leader's own connection, which the exclusive work uses while no pooled request runs), then more
 * opened when a request finds none idle (so a database written by one request at a time holds
 * none beyond `first`), kept idle after, handed to waiting requests in arrival order.
 */
export class WritePool {
  readonly #handle: DuckHandle;
  readonly #size: number;
  readonly #idle: WriteConnection[] = [];
  #opened = 0;
  readonly #waiting: Array<(conn: WriteConnection) => void> = [];

  constructor(handle: DuckHandle, size: number, first: WriteConnection) {
    this.#handle = handle;
    this.#size = size;
    this.#idle.push(first);
    this.#opened = 1;
  }

  /** An idle connection, a new one below the limit, or the next one released. */
  async acquire(): Promise<WriteConnection> {
    const idle = this.#idle.pop();
    if (idle !== undefined) return idle;
    if (this.#opened < this.#size) {
      this.#opened++;
      try {
        return await WriteConnection.open(this.#handle);
      } catch (err) {
        this.#opened--;
        throw err;
      }
    }
    return new Promise<WriteConnection>((resolve) => this.#waiting.push(resolve));
  }

  /** Hands `conn` to the next waiting request, or keeps it idle. */
  release(conn: WriteConnection): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next(conn);
    else this.#idle.push(conn);
  }

  /** Closes the idle connections, `first` included (call once no request holds one). */
  close(): void {
    for (const conn of this.#idle.splice(0)) conn.close();
  }
}
