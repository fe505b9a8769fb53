export { Walstream } from './walstream.js';
export { DatabaseReplicator, type FencingOptions, type ReplicatorStatus, type SyncResult } from './replicator.js';
export {
  claimLineage,
  putChangesetFenced,
  readDurableHead,
  readRemoteMeta,
  type ClaimInput,
  type DurableHead,
  type FencedPut,
  type LineageClaim,
  type RemoteMeta,
  type WriterTerm,
} from './fencing.js';
export type {
  CheckpointOptions,
  DatabaseOptions,
  SnapshotPolicy,
  WalstreamAdminOptions,
  WalstreamOptions,
} from './options.js';
export { WalstreamAdminSource } from './admin-source.js';
export type { WalstreamEvent } from './events.js';
export { restore, checkIntegrity, type RestoreOptions, type RestoreProgress, type RestoreResult } from './restore.js';
export { Follower, type FollowOptions } from './follower.js';
export { ReplicaWriter, prepareReplicaFile } from './replica.js';
export { applyRetention, type RetentionOptions, type RetentionResult } from './retention.js';
export { listRemote, readRemoteHeader, type RemoteEntry, type RemoteHeader, type RemoteListing } from './remote.js';
export { META_PAGE_ID, changesetDbPages, changesetMeta, type ChangesetMeta } from './meta.js';
export { WalstreamError, isWalstreamError, type WalstreamErrorCode } from './errors.js';
export { runSidecar, type SidecarOptions } from './sidecar.js';
