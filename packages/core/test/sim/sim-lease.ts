import {
  LeaseError,
  decodeLeaseData,
  type LeaseCapabilities,
  type LeaseRecord,
  type LeaseStore,
  type LeaseTimingRecommendation,
} from '@hadb/lease';
import type { CasResult, OpOptions } from '@hadb/storage';
import type { Network, ServiceErrors } from './network.js';
import type { Host } from './scheduler.js';

const leaseErrors: ServiceErrors = {
  aborted: (reason) => new LeaseError('HADB_LEASE_ABORTED', 'aborted', { cause: reason }),
  ambiguous: () => new LeaseError('HADB_LEASE_AMBIGUOUS', 'write outcome unknown'),
  unavailable: () => new LeaseError('HADB_LEASE_UNAVAILABLE', 'lease store unavailable'),
};

/**
 * The simulated lease service: one linearizable compare-and-swap register per key with a global
 * revision counter (like NATS KV / etcd). It also checks the epoch invariants on every write that
 * takes effect: an epoch belongs to exactly one session, and a new session's epoch is greater than
 * every epoch written before.
 */
export class SimLeaseRegister {
  private readonly records = new Map<string, { data: Uint8Array; rev: number }>();
  private rev = 0;
  private readonly epochOwner = new Map<number, string>();
  private maxEpoch = 0;
  readonly violations: string[];
  private readonly now: () => number;
  /** Every write that took effect, with the virtual time it took effect. */
  readonly history: Array<{
    readonly at: number;
    readonly epoch: number;
    readonly sessionId: string;
    readonly ttlSecs: number;
    readonly instanceId: string;
    readonly nonce: string | undefined;
  }> = [];

  constructor(violations: string[], now: () => number = () => 0) {
    this.violations = violations;
    this.now = now;
  }

  read(key: string): LeaseRecord | null {
    const r = this.records.get(key);
    return r === undefined ? null : { data: r.data.slice(), etag: String(r.rev) };
  }

  writeIfNotExists(key: string, data: Uint8Array): CasResult {
    if (this.records.has(key)) return { success: false };
    return this.store(key, data);
  }

  writeIfMatch(key: string, data: Uint8Array, etag: string): CasResult {
    const r = this.records.get(key);
    if (r === undefined || String(r.rev) !== etag) return { success: false };
    return this.store(key, data);
  }

  delete(key: string): void {
    this.records.delete(key);
  }

  private store(key: string, data: Uint8Array): CasResult {
    const lease = decodeLeaseData(data);
    const epoch = lease.epoch ?? 0;
    const owner = this.epochOwner.get(epoch);
    if (owner === undefined) {
      if (epoch <= this.maxEpoch)
        this.violations.push(`lease: new session ${lease.sessionId} got epoch ${epoch} <= ${this.maxEpoch}`);
      this.epochOwner.set(epoch, lease.sessionId);
      this.maxEpoch = Math.max(this.maxEpoch, epoch);
    } else if (owner !== lease.sessionId) {
      this.violations.push(`lease: epoch ${epoch} written by sessions ${owner} and ${lease.sessionId}`);
    }
    this.history.push({
      at: this.now(),
      epoch,
      sessionId: lease.sessionId,
      ttlSecs: lease.ttlSecs,
      instanceId: lease.instanceId,
      nonce: lease.nonce,
    });
    this.rev++;
    this.records.set(key, { data: data.slice(), rev: this.rev });
    return { success: true, etag: String(this.rev) };
  }
}

/** A host's client of the {@link SimLeaseRegister}, through the simulated network. */
export class SimLeaseClient implements LeaseStore {
  readonly name = 'sim';
  readonly capabilities: LeaseCapabilities;
  private readonly host: Host;
  private readonly register: SimLeaseRegister;
  private readonly net: Network;

  /** `recommendedTiming`: what the store recommends (`capabilities.recommendedTiming`); default none. */
  constructor(host: Host, register: SimLeaseRegister, net: Network, recommendedTiming?: LeaseTimingRecommendation) {
    this.host = host;
    this.register = register;
    this.net = net;
    this.capabilities = { etagKind: 'revision', monotonicEtags: true, serverSideExpiry: false, recommendedTiming };
  }

  keyFor(scope: string): string {
    return scope;
  }

  read(key: string, options: OpOptions = {}): Promise<LeaseRecord | null> {
    return this.net.call(
      this.host,
      'lease.read',
      key,
      false,
      options.signal,
      () => this.register.read(key),
      leaseErrors,
    );
  }

  writeIfNotExists(key: string, data: Uint8Array, options: OpOptions = {}): Promise<CasResult> {
    return this.net.call(
      this.host,
      'lease.create',
      key,
      true,
      options.signal,
      () => this.register.writeIfNotExists(key, data),
      leaseErrors,
    );
  }

  writeIfMatch(key: string, data: Uint8Array, etag: string, options: OpOptions = {}): Promise<CasResult> {
    return this.net.call(
      this.host,
      'lease.cas',
      key,
      true,
      options.signal,
      () => this.register.writeIfMatch(key, data, etag),
      leaseErrors,
    );
  }

  delete(key: string, options: OpOptions = {}): Promise<void> {
    return this.net.call(
      this.host,
      'lease.delete',
      key,
      true,
      options.signal,
      () => this.register.delete(key),
      leaseErrors,
    );
  }

  async close(): Promise<void> {}

  async [Symbol.asyncDispose](): Promise<void> {}
}
