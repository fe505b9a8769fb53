import { type ErrorFactory, HadbError, errorGuard } from '@hadb/io';

/** Stable codes of {@link GraphstreamError}. Match on these, never on messages. */
export type GraphstreamErrorCode =
  /** An argument is out of range or of the wrong form (for example an entry that is too large). */
  | 'HADB_GRAPHSTREAM_INVALID_ARGUMENT'
  /** An option is invalid (for example a negative fsync interval); reported at construction. */
  | 'HADB_GRAPHSTREAM_INVALID_CONFIG'
  /** A `JournalEntry` payload is not valid protobuf for the graphd schema. */
  | 'HADB_GRAPHSTREAM_INVALID_PAYLOAD'
  /** Another live process holds the journal directory's writer lock. */
  | 'HADB_GRAPHSTREAM_LOCKED'
  /** The component was used after `close()`. */
  | 'HADB_GRAPHSTREAM_CLOSED'
  /**
   * A write or fsync failed earlier; what reached the disk is unknown, so the writer refuses
   * further appends. Close it and open a new one: recovery finds the durable state.
   */
  | 'HADB_GRAPHSTREAM_WRITER_FAILED'
  /** A local journal file is damaged beyond a torn tail, or local segments do not chain. */
  | 'HADB_GRAPHSTREAM_CORRUPT'
  /** Entries do not link: an entry's `prev_hash` differs from the hash of the entry before it. */
  | 'HADB_GRAPHSTREAM_CHAIN_MISMATCH'
  /** Remote segments leave a hole: the entry after the local position is not in storage. */
  | 'HADB_GRAPHSTREAM_GAP'
  /** Two remote segments partly overlap (neither covers the other), so no single history exists. */
  | 'HADB_GRAPHSTREAM_OVERLAP'
  /** A downloaded or local sealed segment failed verification (length, checksum, CRC, chain, seq). */
  | 'HADB_GRAPHSTREAM_INVALID_SEGMENT'
  /** A different segment already exists at the key an upload targets (a diverged history). */
  | 'HADB_GRAPHSTREAM_UPLOAD_CONFLICT'
  /** The operation's `AbortSignal` fired. */
  | 'HADB_GRAPHSTREAM_ABORTED'
  /** Local file-system I/O failed. */
  | 'HADB_GRAPHSTREAM_IO';

/** Options of {@link GraphstreamError}. */
export interface GraphstreamErrorOptions {
  readonly cause?: unknown;
  /** The journal sequence the error concerns, when there is one. */
  readonly seq?: bigint;
  /** The local path or storage key the error concerns, when there is one. */
  readonly location?: string;
}

/** The one error type of `@hadb/graphstream`; storage failures pass through as `StorageError`. */
export class GraphstreamError extends HadbError<GraphstreamErrorCode> {
  override readonly name = 'GraphstreamError';
  readonly seq: bigint | undefined;
  readonly location: string | undefined;

  constructor(code: GraphstreamErrorCode, message: string, options: GraphstreamErrorOptions = {}) {
    super(code, message, options);
    this.seq = options.seq;
    this.location = options.location;
  }
}

/** True for a {@link GraphstreamError}, optionally with the given code (works across duplicate installs). */
export const isGraphstreamError = errorGuard<GraphstreamError>('GraphstreamError');

/** The `HADB_GRAPHSTREAM_ABORTED` factory passed to `@hadb/io`'s abort helpers. */
export const graphstreamAborted: ErrorFactory = (message, cause) =>
  new GraphstreamError('HADB_GRAPHSTREAM_ABORTED', message, { cause });

/** The `HADB_GRAPHSTREAM_INVALID_CONFIG` factory passed to `@hadb/io`'s `configChecker`. */
export const graphstreamInvalidConfig: ErrorFactory = (message, cause) =>
  new GraphstreamError('HADB_GRAPHSTREAM_INVALID_CONFIG', message, { cause });
