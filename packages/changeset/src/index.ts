export {
  ChangesetError,
  changesetAborted,
  changesetInvalidConfig,
  isChangesetError,
  type ChangesetErrorCode,
  type ChangesetErrorDetails,
} from './errors.js';
export { PageIdSize, U32_MAX, U64_MAX, type PageEntry, type PhysicalChangeset, type PhysicalHeader } from './types.js';
export { computeChecksum } from './checksum.js';
export {
  HADBP_HEADER_SIZE,
  HADBP_MAGIC,
  HADBP_MIN_SIZE,
  HADBP_TRAILER_SIZE,
  HADBP_VERSION,
  decodePhysical,
  encodePhysical,
  encodePhysicalInto,
  encodedPhysicalSize,
  newPhysical,
  verifyChain,
  type NewPhysicalOptions,
} from './physical.js';
export { encodePhysicalChunks } from './physical-chunks.js';
export { applyPhysical, type ApplyOptions } from './apply.js';
export type { ByteSource } from './byte-source.js';
export { PhysicalStreamWriter, type PhysicalStreamInit, type PhysicalStreamWriterOptions } from './stream-writer.js';
export { readPhysicalStream, type PhysicalStreamReader, type ReadPhysicalStreamOptions } from './stream-reader.js';
export {
  ChangesetKind,
  GENERATION_INCREMENTAL,
  GENERATION_SNAPSHOT,
  formatKey,
  generationPrefix,
  parseKey,
  type ChangesetKeyParts,
} from './keys.js';
export {
  discoverAfter,
  discoverLatestSnapshot,
  discoverStrictPhysicalChain,
  downloadPhysical,
  uploadPhysical,
  uploadPhysicalSnapshot,
  type DiscoveredChangeset,
  type StrictChainBase,
  type StrictChainHead,
  type UploadResult,
} from './storage.js';
export { crc32c, crc32cImplementation } from './crc32c.js';
export {
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  DEFAULT_MAX_WINDOW_BYTES,
  zstdCompress,
  zstdCompressStream,
  zstdDecompress,
  zstdDecompressStream,
  zstdImplementation,
  type ZstdCompressOptions,
  type ZstdDecompressOptions,
} from './zstd.js';
export {
  CHAIN_HASH_TRAILER_SIZE,
  COMPRESSION_NONE,
  COMPRESSION_ZSTD,
  DEFAULT_MAX_JOURNAL_BODY_BYTES,
  ENTRY_HEADER_SIZE,
  FLAG_COMPRESSED,
  FLAG_HAS_CHAIN_HASH,
  FLAG_SEALED,
  HADBJ_HEADER_SIZE,
  HADBJ_MAGIC,
  HADBJ_VERSION,
  ZERO_HASH,
} from './journal/constants.js';
export type { JournalEntry, JournalHeader, JournalSegment } from './journal/types.js';
export { buildEntryChain, decodeEntry, encodeEntry, entryHash, hashToU64, type DecodedEntry } from './journal/entry.js';
export {
  decodeJournalHeader,
  encodeJournalHeader,
  encodeUnsealedHeader,
  type UnsealedHeaderInit,
} from './journal/header.js';
export {
  decodeJournal,
  encodeJournal,
  encodeJournalCompressed,
  sealJournal,
  type DecodeJournalOptions,
  type SealOptions,
} from './journal/segment.js';
export {
  readLiveJournal,
  type LiveJournalEnd,
  type LiveJournalReader,
  type ReadLiveJournalOptions,
} from './journal/live-reader.js';
export {
  DEFAULT_RETENTION_TIERS,
  planRetention,
  type RetentionDecision,
  type RetentionPlan,
  type RetentionReason,
  type RetentionSnapshot,
  type RetentionTiers,
} from './retention-tiers.js';
/** Per-call options of every I/O function (`{ signal? }`), from `@hadb/io`. */
export type { OpOptions } from '@hadb/io';
export {
  DEFAULT_WORKER_MIN_BYTES,
  restorePhysicalRanged,
  type RangedRestoreResult,
  type RangedRestoreTarget,
  type RestorePhysicalRangedOptions,
} from './ranged-restore.js';
