export { HaNode, type HaNodeEvents, type ReadOptions, type WriteOptions } from './ha-node.js';
export { HaDatabase, type HaDatabaseStats } from './ha-database.js';
export type {
  AppliedInfo,
  EngineContext,
  EngineFactory,
  EngineWriteOptions,
  FollowerSide,
  HaEngine,
  LeaderContext,
  LeaderSide,
  ShipOptions,
  ShipReport,
  WireCodec,
} from './engine.js';
export { HaError, isHaError, throwIfAborted, type HaErrorCode } from './errors.js';
export {
  passedNodeOptions,
  resolveHaNodeOptions,
  type HaLeaseOptions,
  type PassedNodeOptions,
  type HaNodeOptions,
  type ResolvedHaNodeOptions,
} from './options.js';
export type { HaRole } from './role-lifecycle.js';
export type { HaStats } from './stats.js';
export type { EngineAdminOptions } from '@hadb/admin';
export { ShipScheduler, type ShipCounters, type ShipSchedulerOptions } from './ship-scheduler.js';
export { FileGate } from './file-gate.js';
export { Mutex, RwGate } from './mutex.js';
export {
  DEFAULT_FORWARD_DELAYS_MS,
  HEAD_WAIT_PATH,
  MAX_HEAD_HOLD_MS,
  TOKEN_PATTERN,
  errorFromBody,
  isRetryableForward,
  statusFor,
  type Durability,
} from './forwarding/protocol.js';
export {
  DEFAULT_FORWARD_RETRY_BUDGET_MS,
  ForwardingClient,
  forwardToLeader,
  withForwardRetries,
  type ForwardRetryOptions,
  type ForwardToLeaderOptions,
  type ForwardingClientOptions,
  type LeaderRoute,
} from './forwarding/client.js';
export { ForwardingServer, type ForwardTarget, type ForwardingServerOptions } from './forwarding/server.js';
export { DEFAULT_FORWARDING_LIMITS, type ForwardingLimits, resolveForwardingLimits } from './forwarding/limits.js';
export { HeadBoard } from './notice/head-board.js';
export {
  LeaderWaker,
  wakeOnNotice,
  type FollowerWaker,
  type LeaderWakerOptions,
  type WakeReason,
  type WakerCounters,
} from './notice/leader-waker.js';
export { waitLeaderHead, type WaitLeaderHeadOptions } from './forwarding/notice-client.js';
