import { databaseReadiness, nodeReadiness } from './readiness.js';
import type { BreakerState, DatabaseStatus, MetricFamily, MetricSample, NodeStatus } from './source.js';

const ROLES = ['leader', 'follower', 'client'] as const;
const BREAKER_STATES: readonly BreakerState[] = ['closed', 'half-open', 'open'];

/** Name, type and help of every family the admin server derives from {@link NodeStatus}. */
export const ADMIN_METRICS = {
  role: ['hadb_role', 'gauge', 'Role of this node for the database (1 for the current role label)'],
  isLeader: ['hadb_is_leader', 'gauge', 'Whether this node leads the database (1=yes, 0=no)'],
  epoch: ['hadb_epoch', 'gauge', 'Epoch (fencing token) of the current term'],
  leaseValid: ['hadb_lease_valid', 'gauge', 'Leader holds a valid lease (1=yes, 0=no)'],
  ready: [
    'hadb_ready',
    'gauge',
    'Database ready to serve (leader holding its lease, or follower within the lag bound)',
  ],
  lag: [
    'hadb_lag_seconds',
    'gauge',
    'Seconds between now and the commit time of the newest change applied (followers)',
  ],
  sinceShip: ['hadb_seconds_since_last_ship', 'gauge', 'Seconds since the last successful ship to storage (leaders)'],
  sinceSync: [
    'hadb_seconds_since_last_sync',
    'gauge',
    'Seconds since the database was last known in sync with storage',
  ],
  position: ['hadb_replication_position', 'gauge', 'Sequence of the newest segment shipped or applied'],
  shippedBytes: ['hadb_shipped_bytes_total', 'counter', 'Bytes shipped to storage'],
  shippedSegments: ['hadb_shipped_segments_total', 'counter', 'Segments shipped to storage'],
  appliedBytes: ['hadb_applied_bytes_total', 'counter', 'Bytes applied from storage'],
  appliedSegments: ['hadb_applied_segments_total', 'counter', 'Segments applied from storage'],
  retries: ['hadb_retries_total', 'counter', 'Retried storage operations'],
  breaker: ['hadb_circuit_breaker_state', 'gauge', 'Storage circuit breaker state (1 for the current state label)'],
  errors: ['hadb_errors_total', 'counter', 'Failures by error code'],
  nodeReady: ['hadb_node_ready', 'gauge', 'Node ready (every joined database ready)'],
  clusterMembers: ['hadb_cluster_members', 'gauge', 'Cluster members this node sees, by role'],
} as const satisfies Record<string, readonly [string, MetricFamily['type'], string]>;

type Key = keyof typeof ADMIN_METRICS;

/**
 * The `hadb_*` families of the given nodes at wall time `nowMs`, every sample labelled `node` and
 * (per database) `db`. Unknown values are left out rather than reported as 0.
 */
export function statusFamilies(nodes: readonly NodeStatus[], nowMs: number, maxLagSeconds: number): MetricFamily[] {
  const samples = new Map<Key, MetricSample[]>();
  for (const key of Object.keys(ADMIN_METRICS) as Key[]) samples.set(key, []);
  const add = (key: Key, labels: Record<string, string>, value: number | null | undefined): void => {
    if (value === null || value === undefined || !Number.isFinite(value)) return;
    samples.get(key)!.push({ labels, value });
  };
  for (const node of nodes) {
    add('nodeReady', { node: node.nodeId }, nodeReadiness(node, maxLagSeconds).ready ? 1 : 0);
    for (const d of node.databases) databaseSamples(add, node.nodeId, d, nowMs, maxLagSeconds);
  }
  return (Object.keys(ADMIN_METRICS) as Key[]).map((key) => {
    const [name, type, help] = ADMIN_METRICS[key];
    return { name, type, help, samples: samples.get(key)! };
  });
}

function databaseSamples(
  add: (key: Key, labels: Record<string, string>, value: number | null | undefined) => void,
  node: string,
  d: DatabaseStatus,
  nowMs: number,
  maxLagSeconds: number,
): void {
  const l = { node, db: d.db };
  for (const role of ROLES) add('role', { ...l, role }, d.role === role ? 1 : 0);
  add('isLeader', l, d.role === 'leader' ? 1 : 0);
  add('epoch', l, d.epoch);
  if (d.role === 'leader') add('leaseValid', l, d.leaseValid === undefined ? undefined : d.leaseValid ? 1 : 0);
  add('ready', l, databaseReadiness(d, maxLagSeconds).ready ? 1 : 0);
  if (d.role === 'follower' || d.role === 'client') add('lag', l, d.lagSeconds);
  if (d.role === 'leader' && typeof d.lastShipAtMs === 'number')
    add('sinceShip', l, Math.max(0, (nowMs - d.lastShipAtMs) / 1000));
  if (typeof d.syncedAtMs === 'number') add('sinceSync', l, Math.max(0, (nowMs - d.syncedAtMs) / 1000));
  add('position', l, d.position === undefined ? undefined : Number(d.position));
  add('shippedBytes', l, d.shippedBytes);
  add('shippedSegments', l, d.shippedSegments);
  add('appliedBytes', l, d.appliedBytes);
  add('appliedSegments', l, d.appliedSegments);
  add('retries', l, d.retries);
  if (d.breaker !== undefined)
    for (const state of BREAKER_STATES) add('breaker', { ...l, state }, d.breaker === state ? 1 : 0);
  for (const [code, n] of Object.entries(d.errors ?? {})) add('errors', { ...l, code }, n);
  if (d.cluster !== undefined) {
    for (const role of ROLES) add('clusterMembers', { ...l, role }, d.cluster.filter((m) => m.role === role).length);
  }
}
