/** Progress and error events of a replicated database (`onEvent`). */
export type WalstreamEvent =
  /** An incremental changeset was stored. */
  | {
      readonly type: 'shipped';
      readonly db: string;
      readonly seq: bigint;
      readonly pages: number;
      /** Encoded bytes stored. */
      readonly bytes: number;
      /** WAL bytes (frames with headers) the changeset covers. */
      readonly walBytes: number;
      /** `clock.now()` when the WAL was read: every commit that returned before it is in this changeset or an earlier one. */
      readonly capturedAt: number;
    }
  /** A snapshot was stored; `lineage` is true when it starts a new lineage (chain anchor). */
  | {
      readonly type: 'snapshot';
      readonly db: string;
      readonly seq: bigint;
      readonly pages: number;
      readonly bytes: number;
      readonly lineage: boolean;
      readonly reason: string;
    }
  /** A checkpoint ran. */
  | {
      readonly type: 'checkpoint';
      readonly db: string;
      readonly mode: 'PASSIVE' | 'TRUNCATE';
      readonly walFrames: number;
      readonly complete: boolean;
    }
  /** A background step failed; it is retried on the next tick. */
  | { readonly type: 'error'; readonly db: string; readonly error: unknown };
