import { type ErrorFactory, HadbError, errorGuard } from '@hadb/io';

/**
 * Stable codes of {@link ChangesetError}. Match on these, never on messages.
 *
 * The first nine mirror the Rust `hadb_changeset::ChangesetError` variants one to one; the rest
 * cover what the Rust crate expresses as panics or `anyhow` strings.
 */
export type ChangesetErrorCode =
  /** Rust `InvalidMagic`: the first five bytes are not `HADBP` / `HADBJ`. */
  | 'HADB_CHANGESET_INVALID_MAGIC'
  /** Rust `UnsupportedVersion(u8)`: see `version`. */
  | 'HADB_CHANGESET_UNSUPPORTED_VERSION'
  /** Rust `ChecksumMismatch { expected, actual }`: stored value vs recomputed value. */
  | 'HADB_CHANGESET_CHECKSUM_MISMATCH'
  /** Rust `ChainBroken { expected, changeset_prev }`: the changeset does not link to the expected predecessor. */
  | 'HADB_CHANGESET_CHAIN_BROKEN'
  /** Rust `Truncated { needed, available }`: too few bytes (or, when `available > needed`, trailing bytes). */
  | 'HADB_CHANGESET_TRUNCATED'
  /** Rust `PageTooLarge { data_len, page_size }`. */
  | 'HADB_CHANGESET_PAGE_TOO_LARGE'
  /** Rust `InvalidPageIdSize(u8)`: page id width other than 4 or 8. */
  | 'HADB_CHANGESET_INVALID_PAGE_ID_SIZE'
  /** Rust `PageSizeMismatch { header, expected }` (defined upstream, never produced by this package). */
  | 'HADB_CHANGESET_PAGE_SIZE_MISMATCH'
  /** Rust `InvalidFlags(u8)`: for `.hadbj`, decoding a segment that is not sealed. */
  | 'HADB_CHANGESET_INVALID_FLAGS'
  /** Rust `Io`: file-system failure, or a zstd body that does not decompress (Rust's `InvalidData`). */
  | 'HADB_CHANGESET_IO'
  /** Rust panic "page_id variant mismatch": a page id does not fit the declared id width. */
  | 'HADB_CHANGESET_PAGE_ID_MISMATCH'
  /** Rust panic "cannot seal an empty journal segment". */
  | 'HADB_CHANGESET_EMPTY_SEGMENT'
  /** A caller passed an argument the format cannot represent (wrong type, out of range, page count mismatch). */
  | 'HADB_CHANGESET_INVALID_ARGUMENT'
  /** A streaming decoder met page ids out of ascending order; it cannot re-sort without buffering everything. */
  | 'HADB_CHANGESET_NOT_CANONICAL'
  /** A configured safety limit was exceeded (decompressed size, zstd window). */
  | 'HADB_CHANGESET_LIMIT_EXCEEDED'
  /** `downloadPhysical`: the key does not exist. */
  | 'HADB_CHANGESET_NOT_FOUND'
  /** Strict chain discovery: the next sequence is not `previous + 1`. */
  | 'HADB_CHANGESET_SEQUENCE_GAP'
  /** Strict chain discovery: the listing holds the same sequence twice. */
  | 'HADB_CHANGESET_DUPLICATE_SEQ'
  /** Strict chain discovery: the sequence in the key differs from the one in the header. */
  | 'HADB_CHANGESET_KEY_MISMATCH'
  /** `uploadPhysical`: a different changeset already exists at this sequence (never overwritten). */
  | 'HADB_CHANGESET_SEQUENCE_EXISTS'
  /** The operation's `AbortSignal` fired. */
  | 'HADB_CHANGESET_ABORTED'
  /** The worker thread that hashes a ranged restore failed or exited; says nothing about the object's bytes. */
  | 'HADB_CHANGESET_WORKER_FAILED'
  /** An option is invalid (reported when the object is constructed). */
  | 'HADB_CHANGESET_INVALID_CONFIG';

/** Numeric details carried by a {@link ChangesetError}; which ones are set depends on `code`. */
export interface ChangesetErrorDetails {
  readonly cause?: unknown;
  /** `CHECKSUM_MISMATCH`: the stored checksum. `CHAIN_BROKEN`: the expected predecessor checksum. `SEQUENCE_GAP`: the expected seq. */
  readonly expected?: bigint;
  /** `CHECKSUM_MISMATCH`: the recomputed checksum. */
  readonly actual?: bigint;
  /** `CHAIN_BROKEN`: the changeset's own `prev_checksum`. */
  readonly changesetPrev?: bigint;
  /** `TRUNCATED`: bytes (or entries) required. */
  readonly needed?: bigint;
  /** `TRUNCATED`: bytes (or entries) present. */
  readonly available?: bigint;
  /** `PAGE_TOO_LARGE`: the entry's `data_len`. */
  readonly dataLen?: number;
  /** `PAGE_TOO_LARGE` / `PAGE_SIZE_MISMATCH`: the header's `page_size`. */
  readonly pageSize?: number;
  /** `UNSUPPORTED_VERSION`: the version byte. */
  readonly version?: number;
  /** `INVALID_FLAGS`: the flags byte. */
  readonly flags?: number;
  /** `INVALID_PAGE_ID_SIZE`: the width byte. */
  readonly pageIdSize?: number;
  /** Storage helpers: the object key concerned. */
  readonly key?: string;
  /** Storage helpers: the sequence concerned. */
  readonly seq?: bigint;
}

/** Formats like Rust's `{:#018x}`: `0x` and 16 lowercase hex digits. */
export function hex64(value: bigint): string {
  return `0x${BigInt.asUintN(64, value).toString(16).padStart(16, '0')}`;
}

/** Formats like Rust's `{:#04x}`: `0x` and at least 2 lowercase hex digits. */
export function hex8(value: number): string {
  return `0x${value.toString(16).padStart(2, '0')}`;
}

/**
 * The one error type of `@hadb/changeset`. Decoders throw nothing else, for any input.
 * Messages for the Rust variants are byte-identical to the Rust `Display` strings.
 * u64/usize quantities are `bigint`, u8/u32 quantities are `number`.
 */
export class ChangesetError extends HadbError<ChangesetErrorCode> implements ChangesetErrorDetails {
  override readonly name = 'ChangesetError';
  declare readonly expected?: bigint;
  declare readonly actual?: bigint;
  declare readonly changesetPrev?: bigint;
  declare readonly needed?: bigint;
  declare readonly available?: bigint;
  declare readonly dataLen?: number;
  declare readonly pageSize?: number;
  declare readonly version?: number;
  declare readonly flags?: number;
  declare readonly pageIdSize?: number;
  declare readonly key?: string;
  declare readonly seq?: bigint;

  constructor(code: ChangesetErrorCode, message: string, details: ChangesetErrorDetails = {}) {
    super(code, message, { cause: details.cause });
    for (const [name, value] of Object.entries(details)) {
      if (name !== 'cause' && value !== undefined) Object.defineProperty(this, name, { value, enumerable: true });
    }
  }

  /** Rust `InvalidMagic`. */
  static invalidMagic(): ChangesetError {
    return new ChangesetError('HADB_CHANGESET_INVALID_MAGIC', 'invalid magic bytes');
  }

  /** Rust `UnsupportedVersion(v)`. */
  static unsupportedVersion(version: number): ChangesetError {
    return new ChangesetError('HADB_CHANGESET_UNSUPPORTED_VERSION', `unsupported version: ${version}`, { version });
  }

  /** Rust `ChecksumMismatch { expected, actual }`. */
  static checksumMismatch(expected: bigint, actual: bigint): ChangesetError {
    return new ChangesetError(
      'HADB_CHANGESET_CHECKSUM_MISMATCH',
      `checksum mismatch: expected ${hex64(expected)}, got ${hex64(actual)}`,
      { expected, actual },
    );
  }

  /** Rust `ChainBroken { expected, changeset_prev }`. */
  static chainBroken(expected: bigint, changesetPrev: bigint): ChangesetError {
    return new ChangesetError(
      'HADB_CHANGESET_CHAIN_BROKEN',
      `chain broken: changeset prev_checksum ${hex64(changesetPrev)} does not match expected ${hex64(expected)}`,
      { expected, changesetPrev },
    );
  }

  /** Rust `Truncated { needed, available }`. */
  static truncated(needed: bigint | number, available: bigint | number): ChangesetError {
    const n = BigInt(needed);
    const a = BigInt(available);
    return new ChangesetError('HADB_CHANGESET_TRUNCATED', `size mismatch: expected ${n} bytes, have ${a}`, {
      needed: n,
      available: a,
    });
  }

  /** Rust `PageTooLarge { data_len, page_size }`. */
  static pageTooLarge(dataLen: number, pageSize: number): ChangesetError {
    return new ChangesetError(
      'HADB_CHANGESET_PAGE_TOO_LARGE',
      `page data length ${dataLen} exceeds page size ${pageSize}`,
      { dataLen, pageSize },
    );
  }

  /** Rust `InvalidPageIdSize(b)`. */
  static invalidPageIdSize(pageIdSize: number): ChangesetError {
    return new ChangesetError(
      'HADB_CHANGESET_INVALID_PAGE_ID_SIZE',
      `invalid page_id_size: ${pageIdSize} (expected 4 or 8)`,
      { pageIdSize },
    );
  }

  /** Rust `PageSizeMismatch { header, expected }`. */
  static pageSizeMismatch(header: number, expected: number): ChangesetError {
    return new ChangesetError(
      'HADB_CHANGESET_PAGE_SIZE_MISMATCH',
      `page_size mismatch: header says ${header}, expected ${expected}`,
      { pageSize: header },
    );
  }

  /** Rust `InvalidFlags(b)`. */
  static invalidFlags(flags: number): ChangesetError {
    return new ChangesetError('HADB_CHANGESET_INVALID_FLAGS', `invalid flags: ${hex8(flags)}`, { flags });
  }

  /** Rust `Io(e)`: the message is the underlying error's message. */
  static io(cause: unknown, message?: string): ChangesetError {
    const text = message ?? (cause instanceof Error ? cause.message : String(cause));
    return new ChangesetError('HADB_CHANGESET_IO', text, { cause });
  }

  /** An argument the format cannot represent. */
  static invalidArgument(message: string): ChangesetError {
    return new ChangesetError('HADB_CHANGESET_INVALID_ARGUMENT', message);
  }
}

/** True for a {@link ChangesetError} (also across duplicate installs), optionally with the given code. */
export const isChangesetError = errorGuard<ChangesetError>('ChangesetError');

/** The `HADB_CHANGESET_INVALID_CONFIG` factory passed to `@hadb/io`'s `configChecker`. */
export const changesetInvalidConfig: ErrorFactory = (message, cause) =>
  new ChangesetError('HADB_CHANGESET_INVALID_CONFIG', message, { cause });

/** The `HADB_CHANGESET_ABORTED` factory passed to `@hadb/io`'s abort helpers. */
export const changesetAborted: ErrorFactory = (message, cause) =>
  new ChangesetError('HADB_CHANGESET_ABORTED', message, { cause });
