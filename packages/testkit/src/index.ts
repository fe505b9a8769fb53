export { SERVICE_ENV, testService, type ServiceAvailability, type ServiceName } from './services.js';
export { MemoryWatch, gc } from './storage/helpers.js';
export { Prng, seededRandom } from './prng.js';
export { codeOf, rejection, thrown, type CodedError } from './rejection.js';
export { eventually, until, type PollOptions } from './polling.js';
export { freePort } from './free-port.js';
export { ManualClock } from './manual-clock.js';
export { NodeProcess, ProcessCluster, type NodeProcessSpec } from './process-cluster.js';
export { BlackHole } from './black-hole.js';
