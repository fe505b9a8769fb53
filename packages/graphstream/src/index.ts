export {
  GraphstreamError,
  isGraphstreamError,
  type GraphstreamErrorCode,
  type GraphstreamErrorOptions,
} from './errors.js';
export {
  TEMPORAL_TYPES,
  fromParamValue,
  param,
  toParamValue,
  toParams,
  type ParamEntry,
  type ParamValue,
  type TemporalType,
} from './params.js';
export { decodePayload, encodePayload, type JournalPayload } from './payload.js';
export { GraphstreamMetrics, METRIC_NAMES, type MetricName } from './metrics.js';
export { compactedFileName, parseCompactedFileName, parseSegmentFileName, segmentFileName } from './naming.js';
export { journalPrefix, parseSegmentKey, segmentKey } from './keys.js';
export { verifySegmentStream, type SegmentSummary, type VerifySegmentStreamOptions } from './format.js';
export {
  listSegmentFiles,
  recoverJournal,
  type JournalPosition,
  type LocalSegmentFile,
  type RecoverOptions,
  type RecoveredLiveSegment,
  type RecoveryResult,
} from './recovery.js';
export { RECOVERY_FILE, type SealedSegment } from './seal.js';
export { JournalWriter, type AppendResult, type JournalWriterOptions } from './writer.js';
export { UPLOAD_MANIFEST_FILE, UploadManifest, type CacheCleanupOptions } from './manifest.js';
export { JournalUploader, type JournalUploaderOptions, type UploadResult } from './uploader.js';
export { downloadNewSegments, type DownloadOptions, type DownloadedSegment } from './downloader.js';
export { replayJournal, type ReplayEntry, type ReplayOptions, type ReplayResult } from './reader.js';
export { compactJournal, type CompactionOptions, type CompactionResult } from './compaction.js';
export { JournalFollower, type JournalFollowerOptions } from './follower.js';
export { JournalShipper, type JournalShipperOptions } from './shipper.js';
