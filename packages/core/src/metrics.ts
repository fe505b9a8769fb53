import type { FollowerMetrics } from './follower-behavior.js';

/** Counter names and help texts, as Rust `hadb::metrics` exposes them (plus hadb-ts additions at the end). */
const COUNTERS = [
  ['leaseClaimsAttempted', 'hadb_lease_claims_attempted_total', 'Total lease claim attempts'],
  ['leaseClaimsSucceeded', 'hadb_lease_claims_succeeded_total', 'Successful lease claims'],
  ['leaseClaimsFailed', 'hadb_lease_claims_failed_total', 'Failed lease claims'],
  ['leaseRenewalsSucceeded', 'hadb_lease_renewals_succeeded_total', 'Successful lease renewals'],
  ['leaseRenewalsCasConflict', 'hadb_lease_renewals_cas_conflict_total', 'Lease renewals lost to CAS conflict'],
  ['leaseRenewalsError', 'hadb_lease_renewals_error_total', 'Lease renewal errors'],
  ['promotionsAttempted', 'hadb_promotions_attempted_total', 'Total promotion attempts'],
  ['promotionsSucceeded', 'hadb_promotions_succeeded_total', 'Successful promotions'],
  ['promotionsAbortedCatchup', 'hadb_promotions_aborted_catchup_total', 'Promotions aborted due to catchup failure'],
  [
    'promotionsAbortedReplicator',
    'hadb_promotions_aborted_replicator_total',
    'Promotions aborted due to replicator failure',
  ],
  ['promotionsAbortedTimeout', 'hadb_promotions_aborted_timeout_total', 'Promotions aborted due to timeout'],
  ['demotionsCasConflict', 'hadb_demotions_cas_conflict_total', 'Demotions from CAS conflict'],
  ['demotionsSustainedErrors', 'hadb_demotions_sustained_errors_total', 'Demotions from sustained renewal errors'],
  [
    'demotionsClockRate',
    'hadb_demotions_clock_rate_total',
    "Demotions because this node's clock rate was outside the tolerance",
  ],
  ['followerPullsSucceeded', 'hadb_follower_pulls_succeeded_total', 'Successful follower pulls'],
  ['followerPullsFailed', 'hadb_follower_pulls_failed_total', 'Failed follower pulls'],
  ['followerPullsNoNewData', 'hadb_follower_pulls_no_new_data_total', 'Follower pulls with no new data'],
  ['fences', 'hadb_fences_total', 'Leader terms that ended involuntarily (deadline, lease lost, deposed)'],
  ['leaseAmbiguousResolved', 'hadb_lease_ambiguous_resolved_total', 'Ambiguous lease writes resolved by re-reading'],
  [
    'leaseAmbiguousUnresolved',
    'hadb_lease_ambiguous_unresolved_total',
    'Ambiguous lease writes still unresolved after re-reading',
  ],
] as const;

/** Gauge names and help texts (Rust names; durations in seconds as Rust exposes them). */
const GAUGES = [
  ['followerCaughtUp', 'hadb_follower_caught_up', 'Whether follower is caught up (1=yes, 0=no)'],
  ['followerReplayPosition', 'hadb_follower_replay_position', 'Last replayed position'],
  ['lastPromotionDurationUs', 'hadb_last_promotion_duration_seconds', 'Duration of last promotion'],
  ['lastCatchupDurationUs', 'hadb_last_catchup_duration_seconds', 'Duration of last catchup'],
  ['lastRenewalDurationUs', 'hadb_last_renewal_duration_seconds', 'Duration of last lease renewal'],
] as const;

/** A counter of {@link MetricsSnapshot}. */
export type CounterName = (typeof COUNTERS)[number][0];
/** A gauge of {@link MetricsSnapshot}. */
export type GaugeName = (typeof GAUGES)[number][0];

/**
 * Point-in-time values, named like Rust's `MetricsSnapshot` fields (camelCase). Counters are
 * totals since the coordinator was created; `followerCaughtUp` and `followerReplayPosition` are
 * those of the database that reported last (per-database values are in the Prometheus text);
 * durations are microseconds.
 */
export type MetricsSnapshot = Readonly<Record<CounterName | GaugeName, number>>;

/** The coordinator's counters and gauges. */
export class CoordinatorMetrics {
  readonly #values = new Map<CounterName | GaugeName, number>();
  readonly #perDb = new Map<string, { caughtUp: number; position: bigint }>();

  constructor() {
    for (const [key] of COUNTERS) this.#values.set(key, 0);
    for (const [key] of GAUGES) this.#values.set(key, 0);
  }

  inc(name: CounterName): void {
    this.#values.set(name, (this.#values.get(name) ?? 0) + 1);
  }

  /** Records a duration gauge from milliseconds. */
  duration(name: 'lastPromotionDurationUs' | 'lastCatchupDurationUs' | 'lastRenewalDurationUs', ms: number): void {
    this.#values.set(name, Math.max(0, Math.round(ms * 1000)));
  }

  /** Records follower readiness of `db`. */
  follower(db: string, caughtUp: boolean, position: bigint): void {
    this.#perDb.set(db, { caughtUp: caughtUp ? 1 : 0, position });
    this.#values.set('followerCaughtUp', caughtUp ? 1 : 0);
    this.#values.set('followerReplayPosition', Number(position));
  }

  /** Forgets the readiness gauges of a database that was left. */
  forget(db: string): void {
    this.#perDb.delete(db);
  }

  /** The counters a `FollowerBehavior` updates. */
  readonly followerMetrics: FollowerMetrics = {
    pullSucceeded: () => this.inc('followerPullsSucceeded'),
    pullFailed: () => this.inc('followerPullsFailed'),
    pullNoNewData: () => this.inc('followerPullsNoNewData'),
  };

  snapshot(): MetricsSnapshot {
    return Object.freeze(Object.fromEntries(this.#values)) as MetricsSnapshot;
  }

  /**
   * Prometheus text exposition (format 0.0.4): every Rust metric with `# HELP`/`# TYPE`, durations
   * in seconds with six decimals as Rust prints them. The readiness gauges carry one sample per
   * joined database, labelled `db`.
   */
  toPrometheus(): string {
    const out: string[] = [];
    for (const [key, name, help] of COUNTERS) {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${this.#values.get(key) ?? 0}`);
    }
    for (const [key, name, help] of GAUGES) {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
      if (key === 'followerCaughtUp' || key === 'followerReplayPosition') {
        for (const [db, v] of [...this.#perDb].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
          const value = key === 'followerCaughtUp' ? String(v.caughtUp) : v.position.toString();
          out.push(`${name}{db="${db}"} ${value}`);
        }
      } else {
        out.push(`${name} ${((this.#values.get(key) ?? 0) / 1e6).toFixed(6)}`);
      }
    }
    return `${out.join('\n')}\n`;
  }
}
