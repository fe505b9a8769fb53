/** Core runs on `@hadb/io`'s clock and logger; re-exported so a core user needs no second import. */
export { describeError, silentLogger, systemClock, wallSeconds, type Clock, type Logger } from '@hadb/io';
export { CoordinatorError, isCoordinatorError, type CoordinatorErrorCode } from './errors.js';
export { ROLE_CODES, type Role } from './role.js';
export { leaseRecordProblem, maxRecordTtlSecs } from './lease-record-check.js';
export {
  ROLE_EVENT_BUFFER,
  RoleEventHub,
  type DemotionReason,
  type RoleEvent,
  type RoleEventListener,
  type RoleEventOf,
  type RoleEventType,
} from './events.js';
export { TermFence, fencedPutIfAbsent, type FenceReason, type WriteFence } from './fence.js';
export { EpochGate } from './epoch-gate.js';
export type { LeaderTerm, Replicator, ReplicatorCallOptions } from './replicator.js';
export { leaderOnly, type Executor, type WriteGuard } from './executor.js';
export type {
  CatchupContext,
  DurableHead,
  FollowerBehavior,
  FollowerContext,
  FollowerMetrics,
  FollowerProgress,
} from './follower-behavior.js';
export {
  StorageNodeRegistry,
  decodeNodeRegistration,
  encodeNodeRegistration,
  isRegistrationValid,
  nodeKey,
  nodesPrefix,
  type NodeRegistration,
  type NodeRegistry,
  type RegistryCallOptions,
} from './node-registry.js';
export { CoordinatorMetrics, type CounterName, type GaugeName, type MetricsSnapshot } from './metrics.js';
export {
  COORDINATOR_DEFAULTS,
  LEASE_DEFAULTS,
  leaseTimingDefaults,
  resolveLeaseTiming,
  type CoordinatorOptions,
  type LeaseOptions,
  type LeaseTiming,
} from './options.js';
export { Coordinator, type CallOptions, type JoinResult } from './coordinator.js';
export { InstanceClaim, instanceClaimScope, type InstanceClaimOptions } from './instance-claim.js';
export type { ReplicaProgress } from './progress.js';
