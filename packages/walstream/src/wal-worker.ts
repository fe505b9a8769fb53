/**
 * Entry of the WAL thread (see `wal-thread.ts`): owns the SQLite connections of every database
 * one `Walstream` replicates, reads their WAL files and runs their checkpoints, so none of that
 * work runs on the application's thread. Requests are handled one at a time, in arrival order.
 */
import { parentPort } from 'node:worker_threads';
import { WalOps } from './wal-ops.js';
import type { WalReply, WalRequest } from './wal-protocol.js';

const ops = new WalOps();

parentPort?.on('message', (req: WalRequest) => {
  let reply: WalReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const done = ops.handle(req);
    reply = { id: req.id, ok: true, value: done.value };
    transfer = done.transfer;
  } catch (err) {
    const e = err as { name?: unknown; code?: unknown; message?: unknown };
    reply = {
      id: req.id,
      ok: false,
      error: {
        name: typeof e.name === 'string' ? e.name : 'Error',
        code: typeof e.code === 'string' ? e.code : undefined,
        message: typeof e.message === 'string' ? e.message : String(err),
      },
    };
  }
  parentPort?.postMessage(reply, transfer);
});
