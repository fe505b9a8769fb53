import { isCoordinatorError } from '../../src/errors.js';
import { CoordinatorError } from '../../src/errors.js';
import { fencedPutIfAbsent } from '../../src/fence.js';
import { sleepUnlessAborted, withTimeout as ioWithTimeout, type Clock } from '@hadb/io';
import { CORE_DEADLINE } from '../../src/errors.js';

const withTimeout = <T>(
  clock: Clock,
  ms: number,
  signal: AbortSignal | undefined,
  what: string,
  fn: (s: AbortSignal) => Promise<T>,
): Promise<T> => ioWithTimeout(clock, ms, what, CORE_DEADLINE, fn, { signal });
import type { EpochGate } from '../../src/epoch-gate.js';
import type { CatchupContext, DurableHead, FollowerBehavior, FollowerContext } from '../../src/follower-behavior.js';
import type { LeaderTerm, Replicator, ReplicatorCallOptions } from '../../src/replicator.js';
import type { WriteFence } from '../../src/fence.js';
import type { StorageBackend } from '@hadb/storage';
import type { SimObjectStore } from './sim-storage.js';

/** A simulated segment: its chain link (`prev` = id of the previous segment) and writer epoch. */
export interface Segment {
  readonly seq: number;
  readonly epoch: number;
  readonly prev: string;
  /** `<sessionId>:<seq>` — unique per writer and sequence. */
  readonly id: string;
  readonly kind: 'seal' | 'data';
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeSegment(s: Segment): Uint8Array {
  return enc.encode(JSON.stringify(s));
}

export function decodeSegment(b: Uint8Array): Segment {
  return JSON.parse(dec.decode(b)) as Segment;
}

export function segmentKey(db: string, seq: number): string {
  return `${db}/seg/${seq.toString(16).padStart(16, '0')}`;
}

/**
 * What every node shares in the simulation: the invariant log, acknowledged writes, and storage
 * with a check on every segment created (contiguous sequence, chain link, non-decreasing epoch,
 * one session per epoch).
 */
export class World {
  readonly violations: string[] = [];
  readonly acks: Array<{ readonly seq: number; readonly id: string }> = [];
  readonly store: SimObjectStore | undefined;
  private readonly epochSession = new Map<number, string>();
  now: () => number = () => 0;
  /** Highest segment sequence in storage (the simulation has one database). */
  head = 0;
  /** Every segment created, with the virtual time it took effect. */
  readonly creates: Array<{ readonly at: number; readonly seg: Segment }> = [];

  /** With `store`, every segment created in it is checked; without, only local applies are. */
  constructor(store?: SimObjectStore) {
    this.store = store;
    if (store === undefined) return;
    store.onCreate = (key, data) => {
      if (!key.includes('/seg/')) return;
      const seg = decodeSegment(data);
      if (seg.seq > this.head) this.head = seg.seq;
      this.creates.push({ at: this.now(), seg });
      const session = seg.id.slice(0, seg.id.lastIndexOf(':'));
      const owner = this.epochSession.get(seg.epoch);
      if (owner === undefined) this.epochSession.set(seg.epoch, session);
      else if (owner !== session) this.violate(`two writers in epoch ${seg.epoch}: ${owner} and ${session}`);
      if (seg.seq === 1) {
        if (seg.prev !== '') this.violate(`segment 1 has a prev link`);
        return;
      }
      const prevObj = store.objects.get(
        key.slice(0, key.lastIndexOf('/') + 1) + (seg.seq - 1).toString(16).padStart(16, '0'),
      );
      if (prevObj === undefined) {
        this.violate(`gap: segment ${seg.seq} written before ${seg.seq - 1}`);
        return;
      }
      const prev = decodeSegment(prevObj.data);
      if (prev.id !== seg.prev) this.violate(`fork: segment ${seg.seq} links ${seg.prev}, storage has ${prev.id}`);
      if (seg.epoch < prev.epoch) this.violate(`epoch regression at ${seg.seq}: ${seg.epoch} after ${prev.epoch}`);
    };
  }

  violate(message: string): void {
    this.violations.push(`t=${Math.round(this.now())} ${message}`);
  }

  /** The segments in storage for `db`, in order. */
  chain(db: string): Segment[] {
    const out: Segment[] = [];
    for (let seq = 1; ; seq++) {
      const o = this.store?.objects.get(segmentKey(db, seq));
      if (o === undefined) return out;
      out.push(decodeSegment(o.data));
    }
  }
}

/** A node's local database: the applied chain. Survives crashes (it is the node's disk). */
export class LocalDisk {
  readonly chain: Segment[] = [];
  private readonly world: World;
  private readonly name: string;

  constructor(world: World, name: string) {
    this.world = world;
    this.name = name;
  }

  get position(): number {
    return this.chain.length;
  }

  get last(): Segment | undefined {
    return this.chain[this.chain.length - 1];
  }

  get highestEpoch(): number {
    return this.last?.epoch ?? 0;
  }

  append(seg: Segment, by: string): void {
    const last = this.last;
    if (seg.seq !== this.chain.length + 1 || seg.prev !== (last?.id ?? '')) {
      this.world.violate(`${this.name} (${by}) applied ${seg.id} out of order (local head ${last?.id ?? 'none'})`);
      throw new Error('out-of-order apply');
    }
    this.chain.push(seg);
  }
}

const OP_TIMEOUT_MS = 1500;

async function fetchSegment(
  storage: StorageBackend,
  clock: Clock,
  db: string,
  seq: number,
  signal: AbortSignal | undefined,
): Promise<Segment | null> {
  const obj = await withTimeout(clock, OP_TIMEOUT_MS, signal, 'segment read', (s) =>
    storage.get(segmentKey(db, seq), { signal: s }),
  );
  return obj === null ? null : decodeSegment(obj.data);
}

/**
 * The leader side, following the `Replicator` rules: fenced `putIfAbsent` per sequence, conflicts
 * resolved by reading the key (own ⇒ done, lower epoch ⇒ apply and continue, otherwise trip the
 * fence), and a seal segment claimed before the term takes writes.
 */
export class SimReplicator implements Replicator {
  private readonly world: World;
  private readonly storage: StorageBackend;
  private readonly disk: LocalDisk;
  private readonly clock: Clock;
  private term: LeaderTerm | undefined;
  private accepting = false;
  private busy: Promise<unknown> = Promise.resolve();

  constructor(world: World, storage: StorageBackend, disk: LocalDisk, clock: Clock) {
    this.world = world;
    this.storage = storage;
    this.disk = disk;
    this.clock = clock;
  }

  /** The fence of the term this replicator was handed (until `remove`). */
  get activeFence(): WriteFence | undefined {
    return this.term?.fence;
  }

  startLineage(db: string, _path: string, term: LeaderTerm, options: ReplicatorCallOptions = {}): Promise<void> {
    return this.start(db, term, options.signal);
  }

  continueLineage(db: string, _path: string, term: LeaderTerm, options: ReplicatorCallOptions = {}): Promise<void> {
    return this.start(db, term, options.signal);
  }

  private async start(db: string, term: LeaderTerm, signal: AbortSignal | undefined): Promise<void> {
    this.term = term;
    this.accepting = false;
    await this.catchUp(db, signal, term);
    await this.writeSegment(db, term, 'seal', signal);
    if (this.term === term) this.accepting = true;
  }

  async pull(db: string, _path: string, options: ReplicatorCallOptions = {}): Promise<bigint> {
    await this.catchUp(db, options.signal);
    return BigInt(this.disk.position);
  }

  async remove(): Promise<void> {
    this.term = undefined;
    this.accepting = false;
  }

  async sync(): Promise<void> {
    await this.busy;
  }

  /** A client write: true once its segment is durable (acknowledged). */
  async write(db: string): Promise<boolean> {
    const term = this.term;
    if (term === undefined || !this.accepting) return false;
    term.fence.check();
    const p = this.busy.then(() => this.writeSegment(db, term, 'data', undefined));
    this.busy = p.catch(() => {});
    const seg = await p;
    if (seg === undefined) return false;
    this.world.acks.push({ seq: seg.seq, id: seg.id });
    return true;
  }

  private async catchUp(db: string, signal: AbortSignal | undefined, term?: LeaderTerm): Promise<void> {
    for (;;) {
      const seg = await fetchSegment(this.storage, this.clock, db, this.disk.position + 1, signal);
      if (seg === null) return;
      if (signal?.aborted === true || (term !== undefined && this.term !== term))
        throw new CoordinatorError('HADB_CORE_FENCED', 'term ended');
      this.disk.append(seg, 'restore');
    }
  }

  private async writeSegment(
    db: string,
    term: LeaderTerm,
    kind: Segment['kind'],
    signal: AbortSignal | undefined,
  ): Promise<Segment | undefined> {
    for (;;) {
      if (this.term !== term) return undefined;
      term.fence.check();
      const seq = this.disk.position + 1;
      const seg: Segment = {
        seq,
        epoch: term.epoch,
        prev: this.disk.last?.id ?? '',
        id: `${term.sessionId}:${seq}`,
        kind,
      };
      const key = segmentKey(db, seq);
      let landed = false;
      try {
        const res = await withTimeout(this.clock, OP_TIMEOUT_MS, signal, 'segment write', (s) =>
          fencedPutIfAbsent(this.storage, key, encodeSegment(seg), term.fence, { signal: s }),
        );
        landed = res.success;
      } catch (err) {
        if (isCoordinatorError(err, 'HADB_CORE_FENCED') || !term.fence.isValid() || signal?.aborted === true) throw err;
      }
      if (!landed) {
        let existing: Segment | null;
        try {
          existing = await fetchSegment(this.storage, this.clock, db, seq, signal);
        } catch (err) {
          if (!term.fence.isValid() || signal?.aborted === true) throw err;
          await sleepUnlessAborted(this.clock, 50, term.fence.signal);
          continue;
        }
        if (existing === null) continue;
        if (existing.id !== seg.id) {
          if (existing.epoch >= term.epoch) {
            term.fence.trip(`sequence ${seq} already written by epoch ${existing.epoch}`);
            throw new CoordinatorError('HADB_CORE_FENCED', 'deposed');
          }
          if (this.term !== term) return undefined;
          this.disk.append(existing, 'late-write');
          continue;
        }
      }
      if (this.term !== term) return undefined;
      this.disk.append(seg, 'leader');
      return seg;
    }
  }
}

/** The follower side: polls the next key, checks chain link and epoch gate, applies, reports. */
export class SimFollowerBehavior implements FollowerBehavior {
  private readonly world: World;
  private readonly storage: StorageBackend;
  private readonly disk: LocalDisk;
  private readonly name: string;
  private readonly clock: Clock;

  constructor(world: World, storage: StorageBackend, disk: LocalDisk, name: string, clock: Clock) {
    this.world = world;
    this.storage = storage;
    this.disk = disk;
    this.name = name;
    this.clock = clock;
  }

  async runFollowerLoop(ctx: FollowerContext): Promise<void> {
    const { progress, signal, clock } = ctx;
    if (BigInt(this.disk.position) > progress.position) progress.report(BigInt(this.disk.position));
    ctx.epochGate.observe(this.disk.highestEpoch);
    while (!signal.aborted) {
      let seg: Segment | null;
      try {
        seg = await fetchSegment(this.storage, clock, ctx.db, this.disk.position + 1, signal);
      } catch {
        if (signal.aborted) return;
        ctx.metrics.pullFailed();
        await sleepUnlessAborted(clock, ctx.pollIntervalMs, signal);
        continue;
      }
      if (signal.aborted) return;
      if (seg === null) {
        progress.setCaughtUp(true);
        ctx.metrics.pullNoNewData();
        await sleepUnlessAborted(clock, ctx.pollIntervalMs, signal);
        continue;
      }
      progress.setCaughtUp(false);
      this.apply(seg, ctx.epochGate);
      progress.report(BigInt(this.disk.position));
      ctx.metrics.pullSucceeded();
    }
  }

  async catchupOnPromotion(ctx: CatchupContext): Promise<bigint> {
    for (;;) {
      const seg = await fetchSegment(this.storage, ctx.clock, ctx.db, this.disk.position + 1, ctx.signal);
      if (seg === null) return BigInt(this.disk.position);
      this.apply(seg, ctx.epochGate);
    }
  }

  async durableHead(db: string, options: { readonly signal?: AbortSignal | undefined } = {}): Promise<DurableHead> {
    const keys = await withTimeout(this.clock, OP_TIMEOUT_MS, options.signal, 'list', (s) =>
      this.storage.list(`${db}/seg/`, { signal: s }),
    );
    const last = keys[keys.length - 1];
    if (last === undefined) return { position: 0n, epoch: 0 };
    const obj = await withTimeout(this.clock, OP_TIMEOUT_MS, options.signal, 'head read', (s) =>
      this.storage.get(last, { signal: s }),
    );
    if (obj === null) return { position: 0n, epoch: 0 };
    const seg = decodeSegment(obj.data);
    return { position: BigInt(seg.seq), epoch: seg.epoch };
  }

  private apply(seg: Segment, gate: EpochGate): void {
    if (!gate.accepts(seg.epoch)) {
      this.world.violate(
        `${this.name}: segment ${seg.id} of epoch ${seg.epoch} in the chain after epoch ${gate.highest}`,
      );
    }
    gate.admit(seg.epoch);
    this.disk.append(seg, 'follower');
  }
}
