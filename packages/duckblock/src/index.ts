export { DuckblockError, isDuckblockError, type DuckblockErrorCode } from './errors.js';
export {
  BLOCK_CHECKSUM_SIZE,
  DEFAULT_BLOCK_ALLOC_SIZE,
  HEADER_PAGES,
  HEADER_REGION_SIZE,
  PAGE_SIZE,
  blockOffset,
  firstPageOfBlock,
  parseHeaderRegion,
  type DatabaseHeader,
  type DuckFileInfo,
} from './layout.js';
export { blockChecksumValid, duckChecksum } from './duck-checksum.js';
export {
  block,
  decode,
  DEFAULT_MAX_FILE_SIZE,
  decodeSegment,
  duckdbBlockPages,
  encode,
  encodeSegment,
  headerPage,
  newSegment,
  readMarker,
  SegmentMarkers,
  splitEpoch,
  type DecodedSegment,
  type MarkerReading,
  type NewSegmentOptions,
  type Segment,
} from './segment.js';
export {
  diffManifest,
  manifestFromJson,
  manifestToJson,
  scanFile,
  type BlockManifest,
  type FileScan,
  type ManifestDiff,
  type ManifestJson,
} from './manifest.js';
export { captureCheckpoint, detectDirtyBlocks, type CapturedCheckpoint, type DetectOptions } from './capture.js';
export {
  discoverLatestSnapshotSegment,
  discoverSegmentsAfter,
  discoverStrictChain,
  incrementalKey,
  listSnapshots,
  snapshotKey,
} from './discovery.js';
export {
  applySegmentDurably,
  applyStreamedSegment,
  journalPath,
  recoverFile,
  removeWalFiles,
  restorePath,
  truncateToHeader,
  writePages,
  type StreamedApplyOptions,
  type StreamedApplyResult,
} from './apply.js';
export { positionPath, readPosition, writePosition, type Position } from './position.js';
export { LOCAL_SUFFIXES, outgoingPath, removeLocalState } from './local-files.js';
export {
  restoreSnapshot,
  uploadSnapshot,
  type RestoreSnapshotOptions,
  type SnapshotUpload,
  type UploadSnapshotOptions,
} from './snapshot.js';
export { pullIncremental, type PullOptions, type PullResult } from './pull.js';
export { applyRetention, type RetentionOptions, type RetentionResult } from './retention.js';
export { leaderFileHandle, releaseLeaderFile } from './file-handles.js';
export type { DuckblockReplicatorOptions, RetentionPolicy, SnapshotPolicy } from './options.js';
export { DuckblockReplicator, type PreparedCheckpoint, type PushOptions, type PushResult } from './replicator.js';
export { DuckblockFollowerBehavior, type DuckblockFollowerOptions } from './follower.js';
