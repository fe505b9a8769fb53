export { leaseStoreSuite } from './suite.js';
export { leaseDeadlineScenarios, type LeaseDeadlineScenarioOptions } from './deadline-scenarios.js';
export type { LeaseStoreSuiteOptions } from './options.js';
export { DEFAULT_INVALID_KEYS, DEFAULT_INVALID_SCOPES, RUST_LEASE_FIXTURES } from './fixtures.js';
export { isSameRecord, leaseBytes, uniqueScope } from './records.js';
export { measureCasLatency, type CasLatency, type LatencyStats } from './cas-latency.js';
export { withBenchService } from './bench-service.js';
export { countLeaseRequests, type CountingLeaseStore, type LeaseRequestCount } from './counting.js';
export { freezableLeaseStore, type FreezableLeaseStore } from './freezable.js';
