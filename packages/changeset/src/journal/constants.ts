/** `HADBJ` magic (5 bytes). */
export const HADBJ_MAGIC: Uint8Array = Uint8Array.of(0x48, 0x41, 0x44, 0x42, 0x4a);
/** The only `.hadbj` version. */
export const HADBJ_VERSION = 1;
/** Segment header size. */
export const HADBJ_HEADER_SIZE = 128;
/** Fixed part of an entry: crc32c(4) + payload_len(4) + sequence(8) + prev_hash(32). */
export const ENTRY_HEADER_SIZE = 48;
/** Chain-hash trailer size. */
export const CHAIN_HASH_TRAILER_SIZE = 32;
/** Body is zstd-compressed. */
export const FLAG_COMPRESSED = 0x01;
/** Segment is sealed (header counts and checksums are final). */
export const FLAG_SEALED = 0x04;
/** A 32-byte chain-hash trailer follows the body. */
export const FLAG_HAS_CHAIN_HASH = 0x08;
/** `compression` byte: none. */
export const COMPRESSION_NONE = 0;
/** `compression` byte: zstd. */
export const COMPRESSION_ZSTD = 1;
/** The `prev_hash` of the very first entry of a journal: 32 zero bytes. */
export const ZERO_HASH: Uint8Array = new Uint8Array(32);
/**
 * Default cap on a segment's decoded (decompressed) body: 64 MiB, sixteen times graphstream's
 * 4 MiB rotation size. A compressed body that would inflate past it — a decompression bomb — is
 * `HADB_CHANGESET_LIMIT_EXCEEDED` before the bytes past the cap are produced.
 */
export const DEFAULT_MAX_JOURNAL_BODY_BYTES = 64 * 1024 * 1024;
