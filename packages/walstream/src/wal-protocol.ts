/** Messages between a `WalThread` and its worker (`wal-worker.ts`). */
import type { CheckpointCycleInput } from './checkpoint-cycle.js';
import type { WalPosition } from './state.js';

/** A request to the WAL thread; `db` names the database's connections there. */
export type WalRequest = { readonly id: number; readonly db: number } & (
  | { readonly op: 'open'; readonly path: string; readonly lockWaitMs: number }
  | { readonly op: 'holdRead' }
  | { readonly op: 'rehold' }
  | {
      readonly op: 'capture';
      readonly walPath: string;
      readonly cursor: WalPosition | null;
      readonly restartSafe: boolean;
      readonly maxBytes: number;
    }
  | { readonly op: 'checkpoint'; readonly input: CheckpointCycleInput }
  | { readonly op: 'close' }
);

/** The answer to the request with the same `id`. */
export type WalReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | {
      readonly id: number;
      readonly ok: false;
      readonly error: { readonly name: string; readonly code: string | undefined; readonly message: string };
    };
