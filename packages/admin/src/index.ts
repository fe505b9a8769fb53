export { AdminError, isAdminError, type AdminErrorCode } from './errors.js';
export {
  ADMIN_EVENT_TYPES,
  type AdminEvent,
  type AdminEventType,
  type AdminRole,
  type AdminSource,
  type BreakerState,
  type ClusterMember,
  type DatabaseStatus,
  type MetricFamily,
  type MetricSample,
  type NodeStatus,
} from './source.js';
export { alertOf, EventThrottle, type FailureAlert } from './alerts.js';
export { eventFailure, restoreFailedEvent, type EventFailure } from './failure.js';
export { AdminHandler, type AdminOptions, type RecentEvent } from './admin.js';
export { startAdminServer, type AdminServer, type AdminServerOptions, type EngineAdminOptions } from './server.js';
export {
  coordinatorSource,
  type CoordinatorAdminSource,
  type CoordinatorEventLike,
  type CoordinatorLike,
  type CoordinatorSourceOptions,
  type NodeRegistryLike,
  type ReplicationStats,
} from './coordinator-source.js';
export { ADMIN_METRICS, statusFamilies } from './catalog.js';
export { PROMETHEUS_CONTENT_TYPE, parsePrometheus, renderPrometheus } from './exposition.js';
export { databaseReadiness, nodeReadiness, type Readiness } from './readiness.js';
export {
  ADMIN_VERSION,
  WebhookNotifier,
  type WebhookOptions,
  type WebhookPayload,
  type WebhookStats,
  type WebhookTarget,
} from './webhooks.js';
export { SIGNATURE_HEADER, signWebhookBody, verifyWebhookSignature } from './signature.js';
export { Heartbeat, unsyncedReason, type HeartbeatOptions, type HeartbeatStats } from './heartbeat.js';
export { History, type HistoryPoint, type HistorySeries } from './history.js';
export { statusPage, type StatusPageOptions } from './page.js';
