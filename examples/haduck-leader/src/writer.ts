import { randomUUID } from 'node:crypto';
import { isHaDuckError, isHaError, type Durability, type HaDuck } from '@hadb/haduck';
import { log } from './log.js';

/** The demo table: one row per acknowledged logical write. */
export const CREATE_TABLE = 'CREATE TABLE IF NOT EXISTS demo_rows (writer VARCHAR, seq BIGINT, created_ms BIGINT)';

/** Options of {@link RowWriter}. */
export interface RowWriterOptions {
  /** Name stored in every row (`a`, `b`, …): each writer numbers its own rows from `startSeq`. */
  readonly writer: string;
  /** Rows per second. */
  readonly rate: number;
  /** `shipped`: a row is acknowledged only once it is in storage (it survives any failover). */
  readonly durability: Durability;
  /** First sequence number to write. */
  readonly startSeq: number;
}

/**
 * Writes rows at a fixed rate without waiting for earlier writes (so `shipped` acknowledgements,
 * which wait for the next checkpoint, overlap). Each logical write keeps one idempotency token
 * across all its retries, so a write retried through a failover lands exactly once.
 * Prints `{"event":"ack",...}` for every acknowledged row.
 */
export class RowWriter {
  readonly #db: HaDuck;
  readonly #options: RowWriterOptions;
  #timer: NodeJS.Timeout | undefined;
  #next: number;
  #inFlight = new Set<Promise<void>>();
  #stopped = false;
  acked = 0;

  constructor(db: HaDuck, options: RowWriterOptions) {
    this.#db = db;
    this.#options = options;
    this.#next = options.startSeq;
  }

  start(): void {
    const every = Math.max(1, Math.round(1000 / this.#options.rate));
    this.#timer = setInterval(() => {
      if (this.#inFlight.size >= 2000) return;
      const p = this.#writeOne(this.#next++).finally(() => this.#inFlight.delete(p));
      this.#inFlight.add(p);
    }, every);
  }

  async #writeOne(seq: number): Promise<void> {
    const token = randomUUID();
    const created = Date.now();
    for (;;) {
      if (this.#stopped) return;
      try {
        await this.#db.execute('INSERT INTO demo_rows VALUES ($1, $2, $3)', [this.#options.writer, seq, created], {
          idempotencyToken: token,
          durability: this.#options.durability,
        });
        this.acked++;
        log('ack', { writer: this.#options.writer, seq, created, acked: Date.now(), role: this.#db.role });
        return;
      } catch (err) {
        if (!isHaError(err) || !err.retryable) {
          log('write_error', {
            writer: this.#options.writer,
            seq,
            code: isHaError(err) || isHaDuckError(err) ? err.code : 'unknown',
            message: String((err as Error).message),
          });
          return;
        }
        // Same token on every retry: the leader runs the write at most once.
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /**
   * Stops starting new writes and waits up to `drainMs` for the ones in flight (they keep retrying
   * through a failover meanwhile); then abandons those still unacknowledged.
   */
  async stop(drainMs = 10_000): Promise<void> {
    clearInterval(this.#timer);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, drainMs);
    });
    await Promise.race([Promise.allSettled([...this.#inFlight]), deadline]);
    clearTimeout(timer);
    this.#stopped = true;
    await Promise.allSettled([...this.#inFlight]);
  }
}

/**
 * Creates the demo table, finds where `writer`'s rows left off (a strong read on the leader) and
 * starts a {@link RowWriter} there. Retries while no leader answers (for example during a
 * failover); resolves `undefined` if `stopped()` turns true first or on a non-retryable error.
 */
export async function startRowWriter(
  db: HaDuck,
  options: Omit<RowWriterOptions, 'startSeq'>,
  stopped: () => boolean,
): Promise<RowWriter | undefined> {
  while (!stopped()) {
    try {
      await db.execute(CREATE_TABLE);
      const last = await db.query('SELECT coalesce(max(seq), 0) FROM demo_rows WHERE writer = $1', [options.writer], {
        consistency: 'strong',
      });
      if (stopped()) return undefined;
      const writer = new RowWriter(db, { ...options, startSeq: Number(last.rows[0]?.[0] ?? 0) + 1 });
      if (options.rate > 0) writer.start();
      log('writing', { writer: options.writer, rate: options.rate, durability: options.durability });
      return writer;
    } catch (err) {
      if (!isHaError(err) || !err.retryable) {
        log('error', { message: `writer could not start: ${String((err as Error).message)}` });
        return undefined;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return undefined;
}
