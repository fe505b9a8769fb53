/**
 * The operations of the WAL thread on the connections they hold (see `wal-thread.ts`): run by the
 * worker (`wal-worker.ts`), or on the caller's thread when walstream runs without one.
 */
import { captureCommitted, type CaptureResult } from './capture.js';
import { checkpointCycle } from './checkpoint-cycle.js';
import { Connections } from './connections.js';
import type { WalRequest } from './wal-protocol.js';

/** Page buffers of captures, moved (not copied) to the other thread. */
function transferables(captures: readonly CaptureResult[]): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const c of captures) {
    if (c.kind !== 'batch') continue;
    for (const page of c.batch.pages.values()) out.add(page.buffer as ArrayBuffer);
  }
  return [...out];
}

/** The connections of every database opened here, and the requests on them. */
export class WalOps {
  readonly #open = new Map<number, Connections>();

  #conns(db: number): Connections {
    const c = this.#open.get(db);
    if (c === undefined) throw new Error(`database ${db} is not open on the WAL thread`);
    return c;
  }

  /** Runs one request; returns its answer and the buffers it may move to another thread. */
  handle(req: WalRequest): { value: unknown; transfer: ArrayBuffer[] } {
    switch (req.op) {
      case 'open':
        this.#open.set(req.db, new Connections(req.path, req.lockWaitMs));
        return { value: undefined, transfer: [] };
      case 'holdRead':
        this.#conns(req.db).holdRead();
        return { value: undefined, transfer: [] };
      case 'rehold': {
        const c = this.#conns(req.db);
        c.releaseRead();
        c.holdRead();
        return { value: undefined, transfer: [] };
      }
      case 'capture': {
        const got = captureCommitted(req.walPath, req.cursor, req.restartSafe, req.maxBytes);
        return { value: got, transfer: transferables([got]) };
      }
      case 'checkpoint': {
        const result = checkpointCycle(this.#conns(req.db), req.input);
        return { value: result, transfer: transferables(result.captures) };
      }
      case 'close': {
        const c = this.#open.get(req.db);
        this.#open.delete(req.db);
        c?.close();
        return { value: undefined, transfer: [] };
      }
    }
  }
}
