import { testService } from '@hadb/testkit';
import { describe, expect, it } from 'vitest';
import { TIMINGS, runFailovers } from './harness.js';

// Three real node processes (storage-local on one directory, a real lease server): SIGKILL the
// leader, a follower takes over within ttl + margin + poll + catch-up, nothing acknowledged lost.
const services = { nats: testService('nats'), etcd: testService('etcd') };
const URL_VAR = { nats: 'HADB_TEST_NATS_URL', etcd: 'HADB_TEST_ETCD_URL' } as const;

for (const backend of ['nats', 'etcd'] as const) {
  describe.skipIf(!services[backend].available)(`failover with real processes over ${backend}`, () => {
    it('after SIGKILL of the leader a follower is promoted within ttl + margin + poll + 1 s, with a higher epoch and no acknowledged write lost', async () => {
      const timing = TIMINGS['2s'];
      const [r] = await runFailovers({ backend, url: services[backend].env[URL_VAR[backend]]!, timing, kills: 1 });
      if (r === undefined) throw new Error('no failover measured');
      process.stderr.write(`[hadb core] ${backend} TTL 2 s failover ${r.failoverMs} ms (acks ${r.acks})\n`);
      expect(r.violations).toEqual([]);
      expect(r.lostAcks).toBe(0);
      expect(r.acks).toBeGreaterThan(5);
      expect(r.newEpoch).toBeGreaterThan(r.killedEpoch);
      expect(r.failoverMs).toBeLessThanOrEqual(timing.ttlMs + timing.skewMarginMs + timing.pollIntervalMs + 1000);
    }, 120_000);
  });
}
