import { describe, expect, it } from 'vitest';
import { CoordinatorMetrics } from '../src/metrics.js';

describe('CoordinatorMetrics', () => {
  it('exposes the Rust metric names in Prometheus text format', () => {
    const m = new CoordinatorMetrics();
    for (let i = 0; i < 10; i++) m.inc('leaseClaimsAttempted');
    for (let i = 0; i < 4; i++) m.inc('promotionsSucceeded');
    m.duration('lastPromotionDurationUs', 500);
    m.follower('db-a', true, 42n);
    m.follower('db-b', false, 7n);
    m.followerMetrics.pullNoNewData();
    const text = m.toPrometheus();
    expect(text).toContain('# HELP hadb_lease_claims_attempted_total Total lease claim attempts\n');
    expect(text).toContain('# TYPE hadb_lease_claims_attempted_total counter\nhadb_lease_claims_attempted_total 10\n');
    expect(text).toContain('hadb_promotions_succeeded_total 4\n');
    expect(text).toContain(
      '# TYPE hadb_last_promotion_duration_seconds gauge\nhadb_last_promotion_duration_seconds 0.500000\n',
    );
    expect(text).toContain('hadb_follower_caught_up{db="db-a"} 1\n');
    expect(text).toContain('hadb_follower_replay_position{db="db-b"} 7\n');
    expect(text).toContain('hadb_follower_pulls_no_new_data_total 1\n');
    for (const name of [
      'hadb_lease_claims_succeeded_total',
      'hadb_lease_claims_failed_total',
      'hadb_lease_renewals_succeeded_total',
      'hadb_lease_renewals_cas_conflict_total',
      'hadb_lease_renewals_error_total',
      'hadb_promotions_attempted_total',
      'hadb_promotions_aborted_catchup_total',
      'hadb_promotions_aborted_replicator_total',
      'hadb_promotions_aborted_timeout_total',
      'hadb_demotions_cas_conflict_total',
      'hadb_demotions_sustained_errors_total',
      'hadb_follower_pulls_succeeded_total',
      'hadb_follower_pulls_failed_total',
      'hadb_last_catchup_duration_seconds',
      'hadb_last_renewal_duration_seconds',
    ]) {
      expect(text).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge)$`, 'm'));
    }
    // Every sample line is `name{labels} value`.
    for (const line of text.trimEnd().split('\n')) {
      expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{db="[\w.-]+"\})? -?[\d.]+)$/);
    }
    expect(m.snapshot()).toMatchObject({
      leaseClaimsAttempted: 10,
      followerReplayPosition: 7,
      lastPromotionDurationUs: 500_000,
    });
  });

  it('forgets per-database gauges of a database that was left', () => {
    const m = new CoordinatorMetrics();
    m.follower('gone', true, 1n);
    m.forget('gone');
    expect(m.toPrometheus()).not.toContain('gone');
  });
});
