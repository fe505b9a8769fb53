import {
  CoordinatorError,
  fencedPutIfAbsent,
  type CatchupContext,
  type DurableHead,
  type EpochGate,
  type FollowerBehavior,
  type FollowerContext,
  type LeaderTerm,
  type Replicator,
  type ReplicatorCallOptions,
} from '@hadb/core';
import type { StorageBackend } from '@hadb/storage';
import type { ReplicationStats } from '../../src/index.js';

/** A test segment: sequence, writer epoch, leader commit time and a payload. */
interface Segment {
  readonly seq: number;
  readonly epoch: number;
  readonly commitMs: number;
  readonly payload: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function segmentKey(db: string, seq: number): string {
  return `${db}/seg/${seq.toString(16).padStart(16, '0')}`;
}

interface DbState {
  position: number;
  epoch: number;
  lastCommitMs: number | null;
  shippedBytes: number;
  shippedSegments: number;
  appliedBytes: number;
  appliedSegments: number;
  lastShipAtMs: number | null;
  syncedAtMs: number | null;
  retries: number;
  errors: Record<string, number>;
  term: LeaderTerm | undefined;
  busy: Promise<unknown>;
}

/**
 * A small but real replication engine for the admin tests: a leader writes JSON segments with
 * their commit time through `fencedPutIfAbsent` to shared storage; followers poll, pass each
 * segment through the epoch gate, apply it and remember its commit time. It reports
 * {@link ReplicationStats} the way haduck/haqlite/walstream will.
 */
export class TestEngine implements Replicator, FollowerBehavior {
  private readonly storage: StorageBackend;
  private readonly dbs = new Map<string, DbState>();
  /** While true, the follower loop sees new segments but does not apply them (a slow apply). */
  holdApplies = false;

  constructor(storage: StorageBackend) {
    this.storage = storage;
  }

  private state(db: string): DbState {
    let s = this.dbs.get(db);
    if (s === undefined) {
      s = {
        position: 0,
        epoch: 0,
        lastCommitMs: null,
        shippedBytes: 0,
        shippedSegments: 0,
        appliedBytes: 0,
        appliedSegments: 0,
        lastShipAtMs: null,
        syncedAtMs: null,
        retries: 0,
        errors: {},
        term: undefined,
        busy: Promise.resolve(),
      };
      this.dbs.set(db, s);
    }
    return s;
  }

  /** The statistics hook handed to `coordinatorSource`. */
  readonly stats = (db: string): ReplicationStats | undefined => {
    const s = this.dbs.get(db);
    if (s === undefined) return undefined;
    return {
      epoch: s.epoch,
      lastAppliedCommitMs: s.lastCommitMs,
      lastShipAtMs: s.lastShipAtMs,
      syncedAtMs: s.syncedAtMs,
      shippedBytes: s.shippedBytes,
      shippedSegments: s.shippedSegments,
      appliedBytes: s.appliedBytes,
      appliedSegments: s.appliedSegments,
      retries: s.retries,
      breaker: 'closed',
      errors: { ...s.errors },
    };
  };

  startLineage(db: string, _path: string, term: LeaderTerm, options: ReplicatorCallOptions = {}): Promise<void> {
    return this.start(db, term, options.signal);
  }

  continueLineage(db: string, _path: string, term: LeaderTerm, options: ReplicatorCallOptions = {}): Promise<void> {
    return this.start(db, term, options.signal);
  }

  private async start(db: string, term: LeaderTerm, signal: AbortSignal | undefined): Promise<void> {
    const s = this.state(db);
    s.term = term;
    await this.catchUp(db, signal);
    await this.writeSegment(db, term, 0, signal);
  }

  async pull(db: string, _path: string, options: ReplicatorCallOptions = {}): Promise<bigint> {
    await this.catchUp(db, options.signal);
    return BigInt(this.state(db).position);
  }

  async remove(db: string): Promise<void> {
    this.state(db).term = undefined;
  }

  async sync(db: string): Promise<void> {
    await this.state(db).busy;
  }

  /** A client write of `bytes` bytes on the leader; resolves once the segment is durable. */
  async write(db: string, bytes = 1024): Promise<void> {
    const s = this.state(db);
    const term = s.term;
    if (term === undefined) throw new CoordinatorError('HADB_CORE_NOT_LEADER', 'not leading');
    term.fence.check();
    const p = s.busy.then(() => this.writeSegment(db, term, bytes, undefined));
    s.busy = p.catch(() => {});
    await p;
  }

  async runFollowerLoop(ctx: FollowerContext): Promise<void> {
    const s = this.state(ctx.db);
    if (BigInt(s.position) > ctx.progress.position) ctx.progress.report(BigInt(s.position));
    while (!ctx.signal.aborted) {
      let seg: Segment | null;
      try {
        seg = await this.read(ctx.db, s.position + 1, ctx.signal);
      } catch (err) {
        if (ctx.signal.aborted) return;
        const code = (err as { code?: string }).code ?? 'UNKNOWN';
        s.errors[code] = (s.errors[code] ?? 0) + 1;
        ctx.metrics.pullFailed();
        await ctx.clock.sleep(ctx.pollIntervalMs, ctx.signal).catch(() => {});
        continue;
      }
      if (ctx.signal.aborted) return;
      if (seg === null) {
        ctx.progress.setCaughtUp(true);
        s.syncedAtMs = ctx.clock.wallMs();
        ctx.metrics.pullNoNewData();
        await ctx.clock.sleep(ctx.pollIntervalMs, ctx.signal).catch(() => {});
        continue;
      }
      ctx.progress.setCaughtUp(false);
      if (this.holdApplies) {
        await ctx.clock.sleep(ctx.pollIntervalMs, ctx.signal).catch(() => {});
        continue;
      }
      this.apply(ctx.db, seg, ctx.epochGate);
      ctx.progress.report(BigInt(s.position));
      ctx.metrics.pullSucceeded();
    }
  }

  async catchupOnPromotion(ctx: CatchupContext): Promise<bigint> {
    await this.catchUp(ctx.db, ctx.signal, ctx.epochGate);
    return BigInt(this.state(ctx.db).position);
  }

  async durableHead(db: string, options: { readonly signal?: AbortSignal | undefined } = {}): Promise<DurableHead> {
    const keys = await this.storage.list(`${db}/seg/`, { signal: options.signal });
    const last = keys.sort()[keys.length - 1];
    if (last === undefined) return { position: 0n, epoch: 0 };
    const obj = await this.storage.get(last, { signal: options.signal });
    if (obj === null) return { position: 0n, epoch: 0 };
    const seg = JSON.parse(dec.decode(obj.data)) as Segment;
    return { position: BigInt(seg.seq), epoch: seg.epoch };
  }

  private async read(db: string, seq: number, signal: AbortSignal | undefined): Promise<Segment | null> {
    const obj = await this.storage.get(segmentKey(db, seq), { signal });
    if (obj === null) return null;
    return JSON.parse(dec.decode(obj.data)) as Segment;
  }

  private async catchUp(db: string, signal: AbortSignal | undefined, gate?: EpochGate): Promise<void> {
    const s = this.state(db);
    for (;;) {
      const seg = await this.read(db, s.position + 1, signal);
      if (seg === null) {
        s.syncedAtMs = Date.now();
        return;
      }
      this.apply(db, seg, gate);
    }
  }

  private apply(db: string, seg: Segment, gate: EpochGate | undefined): void {
    const s = this.state(db);
    if (gate !== undefined) {
      if (!gate.accepts(seg.epoch)) throw new CoordinatorError('HADB_CORE_FENCED', `segment of old epoch ${seg.epoch}`);
      gate.admit(seg.epoch);
    }
    s.position = seg.seq;
    s.epoch = seg.epoch;
    s.lastCommitMs = seg.commitMs;
    s.appliedSegments++;
    s.appliedBytes += enc.encode(seg.payload).length;
  }

  private async writeSegment(
    db: string,
    term: LeaderTerm,
    bytes: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const s = this.state(db);
    for (;;) {
      if (s.term !== term) throw new CoordinatorError('HADB_CORE_FENCED', 'term ended');
      const seq = s.position + 1;
      const seg: Segment = { seq, epoch: term.epoch, commitMs: Date.now(), payload: 'x'.repeat(bytes) };
      const data = enc.encode(JSON.stringify(seg));
      const res = await fencedPutIfAbsent(this.storage, segmentKey(db, seq), data, term.fence, { signal });
      if (res.success) {
        s.position = seq;
        s.epoch = term.epoch;
        s.lastCommitMs = seg.commitMs;
        s.shippedSegments++;
        s.shippedBytes += bytes;
        s.lastShipAtMs = Date.now();
        s.syncedAtMs = s.lastShipAtMs;
        return;
      }
      s.retries++;
      const existing = await this.read(db, seq, signal);
      if (existing === null) continue;
      if (existing.epoch >= term.epoch) {
        term.fence.trip(`sequence ${seq} already written by epoch ${existing.epoch}`);
        throw new CoordinatorError('HADB_CORE_FENCED', 'deposed');
      }
      this.apply(db, existing, undefined);
    }
  }
}
