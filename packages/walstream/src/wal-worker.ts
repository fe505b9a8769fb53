/**
 * Entry of the WAL thread (see `wal-thread.ts`): owns the SQLite connections of every database
 * one `Walstream` replicates, reads their WAL files and runs their checkpoints, so none of that
 * work runs on the application's thread. Requests are handled one at a time, in arrival order.
 */
import { parentPort } from 'node:worker_threads';
import { captureCommitted, type CaptureResult } from './capture.js';
import { checkpointCycle } from './checkpoint-cycle.js';
import { Connections } from './connections.js';
import type { WalReply, WalRequest } from './wal-protocol.js';

const open = new Map<number, Connections>();

function conns(db: number): Connections {
  const c = open.get(db);
  if (c === undefined) throw new Error(`database ${db} is not open on the WAL thread`);
  return c;
}

/** Page buffers of captures, moved (not copied) to the other thread. */
function transferables(captures: readonly CaptureResult[]): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const c of captures) {
    if (c.kind !== 'batch') continue;
    for (const page of c.batch.pages.values()) out.add(page.buffer as ArrayBuffer);
  }
  return [...out];
}

function handle(req: WalRequest): { value: unknown; transfer: ArrayBuffer[] } {
  switch (req.op) {
    case 'open':
      open.set(req.db, new Connections(req.path));
      return { value: undefined, transfer: [] };
    case 'holdRead':
      conns(req.db).holdRead();
      return { value: undefined, transfer: [] };
    case 'rehold': {
      const c = conns(req.db);
      c.releaseRead();
      c.holdRead();
      return { value: undefined, transfer: [] };
    }
    case 'capture': {
      const got = captureCommitted(req.walPath, req.cursor, req.restartSafe, req.maxBytes);
      return { value: got, transfer: transferables([got]) };
    }
    case 'checkpoint': {
      const result = checkpointCycle(conns(req.db), req.input);
      return { value: result, transfer: transferables(result.captures) };
    }
    case 'close': {
      const c = open.get(req.db);
      open.delete(req.db);
      c?.close();
      return { value: undefined, transfer: [] };
    }
  }
}

parentPort?.on('message', (req: WalRequest) => {
  let reply: WalReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const done = handle(req);
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
