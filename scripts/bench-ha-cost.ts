// The `ha-cost` bench driver shared by haduck's and haqlite's `bench/ha-cost.bench.ts`: what a
// leader + follower pair costs in storage requests (idle and at 1 write/s, priced at S3 Standard
// request prices), `shipped` write latency beside the raw engine commit + one PUT, 16 concurrent
// `shipped` writers beside `committed` ones, and commit → visible on the follower.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import type { BenchContext } from './bench-types.js';

// scripts/ resolves no workspace package: the packages' types appear here only structurally.
/** `@hadb/testkit/storage`'s `RequestCount`. */
interface RequestCount {
  readonly byOperation: Readonly<Partial<Record<string, number>>>;
  readonly total: number;
  readonly classA: number;
  readonly classB: number;
  readonly dollars: number;
}
/** `@hadb/testkit/storage`'s `CountingStorage`. */
interface CountingStorage<S> {
  readonly storage: S;
  count(): RequestCount;
  reset(): void;
}

/** Workspace packages the driver uses, passed in by the package's bench (scripts/ resolves none). */
export interface CostDeps<S, L> {
  openStorage(root: string): Promise<S>;
  /**
   * A lease store kept in `storage` with an S3 lease's request pattern: it recommends the timing
   * `S3LeaseStore` does (`capabilities.recommendedTiming`), so the nodes' lease defaults are the
   * ones an S3 lease gets, and states a server time resolution as S3 does, so a leader reads its
   * record back after each renewal (core's clock-rate check).
   */
  leaseIn(storage: S): L & { readonly capabilities: { readonly recommendedTiming?: LeaseTiming | undefined } };
  /** `@hadb/testkit/storage`'s `countRequests`. */
  countRequests(backend: S): CountingStorage<S>;
  /** `@hadb/testkit/storage`'s `dollarsPerMonth`. */
  dollarsPerMonth(count: RequestCount, seconds: number): number;
}

/** One node as the driver uses it (HaDuck or HaQLite). */
export interface CostNode {
  execute(sql: string, args: unknown[], options: { durability: 'committed' | 'shipped' }): Promise<unknown>;
  /** Rows in table `t` on this node's copy (local read). */
  count(): Promise<number>;
  on(event: 'shipped', fn: (info: { bytes: number }) => void): unknown;
  close(): Promise<void>;
}

/** One sample of {@link CostAdapter.rawShipped}, ms. */
export interface RawSample {
  readonly totalMs: number;
  readonly shipMs: number;
}

/** How the driver opens one engine's nodes and measures its raw floor. */
export interface CostAdapter<S, L> {
  readonly engine: string;
  /** File suffix of the local database. */
  readonly suffix: string;
  readonly deps: CostDeps<S, L>;
  open(o: {
    path: string;
    instanceId: string;
    storage: S;
    lease: L;
    variant?: string | undefined;
    leaseTiming?: LeaseTiming | undefined;
  }): Promise<CostNode>;
  /** SQL creating table `t (id BIGINT, v VARCHAR)`. */
  readonly createTable: string;
  /** SQL inserting one row with parameters (id, v). */
  readonly insert: string;
  /**
   * The raw floor of one `shipped` write, per sample: the engine's own commit (+ checkpoint) and
   * one PUT of `putBytes` (the median bytes one of the node's ships stored). `totalMs` is the
   * whole; `shipMs` what follows the commit (the checkpoint, if any, and the PUT): what one ship
   * costs at least, however many writes it covers.
   */
  rawShipped(dir: string, storage: S, samples: number, putBytes: number): Promise<RawSample[]>;
  /** Names the raw floor in the note. */
  readonly rawLabel: string;
  /** Names the part of the raw floor after the commit ({@link RawSample.shipMs}). */
  readonly rawShipLabel: string;
}

/**
 * A multiple of the S3 lease's renew (8 s) and poll (6 s) intervals and of its nodes' instance-claim
 * check (4 × TTL = 80 s): the counts are exact.
 */
const IDLE_S = 240;
const WRITE_S = 20;
const SHIPPED_SAMPLES = 40;
const CONCURRENT = 16;
const CONCURRENT_S = 4;
/** Latency is measured in this many rounds alternating `shipped` writes and the raw floor. */
const ROUNDS = 4;

function p50(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? Number.NaN;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function sum(a: RequestCount, b: RequestCount): RequestCount {
  const byOperation: Record<string, number | undefined> = { ...a.byOperation };
  for (const [k, v] of Object.entries(b.byOperation)) byOperation[k] = (byOperation[k] ?? 0) + (v ?? 0);
  return {
    byOperation,
    total: a.total + b.total,
    classA: a.classA + b.classA,
    classB: a.classB + b.classB,
    dollars: a.dollars + b.dollars,
  };
}

function ops(c: RequestCount): string {
  return Object.entries(c.byOperation)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

async function waitVisible(node: CostNode, rows: number, timeoutMs = 30_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while ((await node.count().catch(() => -1)) < rows) {
    if (performance.now() > end) throw new Error(`follower did not reach ${rows} rows`);
    await sleep(2);
  }
}

/** Options of {@link runCostBench}. */
export interface CostRunOptions {
  /** Names the rows (default: the engine). */
  readonly label?: string | undefined;
  /** Measure idle cost (default true). */
  readonly idle?: boolean | undefined;
  /** Measure writes (1 write/s, shipped latency, concurrency; default true). */
  readonly writes?: boolean | undefined;
  /** Measure the concurrent writers (default true). */
  readonly concurrent?: boolean | undefined;
  /** Passed to the adapter's `open` (engine-specific settings). */
  readonly variant?: string | undefined;
  /** Lease timing of both nodes (default: none set, so the lease store's recommendation applies). */
  readonly leaseTiming?: LeaseTiming | undefined;
}

/**
 * Core's timing for free-request stores (NATS, etcd): TTL 5 s renewed every 2 s, followers reading
 * every 1 s, worst-case failover 7 s. Set explicitly on an S3 lease it buys a 4× faster failover at
 * about 4× the cost.
 */
export const FAST_LEASE_TIMING: LeaseTiming = Object.freeze({
  ttlMs: 5000,
  renewIntervalMs: 2000,
  pollIntervalMs: 1000,
  skewMarginMs: 1000,
});

function describeTiming(t: LeaseTiming | undefined): string {
  if (t === undefined) return 'core defaults';
  const s = (ms: number): string => `${ms / 1000} s`;
  return `TTL ${s(t.ttlMs)}, renew ${s(t.renewIntervalMs)}, margin ${s(t.skewMarginMs)}, followers read it every ${s(t.pollIntervalMs)}; worst-case failover TTL + margin + poll = ${s(t.ttlMs + t.skewMarginMs + t.pollIntervalMs)}`;
}

/** Core's lease timing options. */
export interface LeaseTiming {
  readonly ttlMs: number;
  readonly renewIntervalMs: number;
  readonly pollIntervalMs: number;
  readonly skewMarginMs: number;
}

/** Runs every measurement for `adapter` and records its rows. */
export async function runCostBench<S, L>(
  ctx: BenchContext,
  adapter: CostAdapter<S, L>,
  run: CostRunOptions = {},
): Promise<void> {
  const e = run.label ?? adapter.engine;
  const dir = mkdtempSync(join(tmpdir(), `${e}-cost-`));
  const { countRequests, dollarsPerMonth } = adapter.deps;
  const backend = await adapter.deps.openStorage(join(dir, 'storage'));
  const leaseBackend = await adapter.deps.openStorage(join(dir, 'lease'));
  // One counter per node on the data storage; the lease lives in its own (counted) storage, the
  // way an S3 lease would; a NATS/etcd lease makes no storage requests at all.
  const leaderData = countRequests(backend);
  const followerData = countRequests(backend);
  const leaseCount = countRequests(leaseBackend);
  const lease = adapter.deps.leaseIn(leaseCount.storage);
  const a = await adapter.open({
    path: join(dir, `a${adapter.suffix}`),
    instanceId: 'a',
    storage: leaderData.storage,
    lease,
    variant: run.variant,
    leaseTiming: run.leaseTiming,
  });
  let shipped = 0;
  const shipBytes: number[] = [];
  a.on('shipped', (info) => {
    shipped++;
    shipBytes.push(info.bytes);
  });
  await a.execute(adapter.createTable, [], { durability: 'shipped' });
  const b = await adapter.open({
    path: join(dir, `b${adapter.suffix}`),
    instanceId: 'b',
    storage: followerData.storage,
    lease,
    variant: run.variant,
    leaseTiming: run.leaseTiming,
  });
  let rows = 0;
  try {
    for (let i = 0; i < 3; i++) await a.execute(adapter.insert, [++rows, 'warm'], { durability: 'shipped' });
    await waitVisible(b, rows);
    await sleep(2000);

    let t0: number;
    let secs: number;
    if (run.idle !== false) {
      // Idle.
      for (const c of [leaderData, followerData, leaseCount]) c.reset();
      t0 = performance.now();
      await sleep(IDLE_S * 1000);
      secs = (performance.now() - t0) / 1000;
      const idleData = sum(leaderData.count(), followerData.count());
      const idleLease = leaseCount.count();
      ctx.record(
        `${e} idle, lease outside storage (NATS/etcd): storage requests`,
        idleData.total / secs,
        'req/s',
        `leader + 1 follower, ${IDLE_S} s; ${ops(idleData) || 'none'}; goal ≤ 0.05 (besides, while the leader answers, one look at storage per 10 × pullTimeoutMs = 10 × (1 s + 6 × TTL): 310 s at a NATS/etcd lease's 5 s TTL)`,
      );
      ctx.record(
        `${e} idle, lease outside storage: cost`,
        dollarsPerMonth(idleData, secs),
        '$/month',
        'S3 Standard request prices; goal ≤ 0.10',
      );
      const idleS3 = sum(idleData, idleLease);
      ctx.record(
        `${e} idle, lease in S3: storage requests`,
        idleS3.total / secs,
        'req/s',
        `lease ${ops(idleLease)} in ${IDLE_S} s (${
          run.leaseTiming === undefined
            ? `defaults, the S3 lease store's recommendation: ${describeTiming(lease.capabilities.recommendedTiming)}`
            : `set explicitly: ${describeTiming(run.leaseTiming)}`
        })`,
      );
      ctx.record(
        `${e} idle, lease in S3: cost`,
        dollarsPerMonth(idleS3, secs),
        '$/month',
        run.leaseTiming === undefined
          ? 'goal ≤ 2'
          : 'no goal: the goal (≤ 2) is for the defaults; these settings buy a faster failover with more lease requests',
      );
    }

    if (run.writes === false) return;
    // 1 write/s (committed), each timed until visible on the follower.
    for (const c of [leaderData, followerData, leaseCount]) c.reset();
    const shippedBefore = shipped;
    const lags: number[] = [];
    t0 = performance.now();
    for (let i = 0; i < WRITE_S; i++) {
      const due = t0 + i * 1000;
      await sleep(Math.max(0, due - performance.now()));
      await a.execute(adapter.insert, [++rows, 'w'], { durability: 'committed' });
      const committed = performance.now();
      await waitVisible(b, rows);
      lags.push(performance.now() - committed);
    }
    await sleep(Math.max(0, t0 + WRITE_S * 1000 - performance.now()));
    secs = (performance.now() - t0) / 1000;
    const writeData = sum(leaderData.count(), followerData.count());
    const segments = shipped - shippedBefore;
    ctx.record(
      `${e} 1 write/s, lease outside storage: storage requests`,
      writeData.total / secs,
      'req/s',
      `${segments} ships in ${WRITE_S} s; leader: ${ops(leaderData.count())}; follower: ${ops(followerData.count())}`,
    );
    ctx.record(`${e} 1 write/s: cost`, dollarsPerMonth(writeData, secs), '$/month', 'lease outside storage');
    ctx.record(
      `${e} 1 write/s: requests / (2 × ships)`,
      writeData.total / Math.max(1, 2 * segments),
      '×',
      'a ship needs one PUT and one follower GET at least; goal ≤ 1.5',
    );
    ctx.record(
      `${e} commit → visible on follower p50 (1 write/s)`,
      p50(lags),
      'ms',
      'checkpoint interval 1000 ms; goal ≤ 1150',
    );

    // `shipped` write latency vs the raw floor, in alternating rounds so both see the same load.
    shipBytes.length = 0;
    const shippedLat: number[] = [];
    const raw: RawSample[] = [];
    let putBytes = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < SHIPPED_SAMPLES / ROUNDS; i++) {
        const s = performance.now();
        await a.execute(adapter.insert, [++rows, 's'], { durability: 'shipped' });
        shippedLat.push(performance.now() - s);
      }
      putBytes = Math.round(p50(shipBytes));
      raw.push(
        ...(await adapter.rawShipped(mkdtempSync(join(dir, 'raw-')), backend, SHIPPED_SAMPLES / ROUNDS, putBytes)),
      );
    }
    const rawP50 = p50(raw.map((r) => r.totalMs));
    const rawShipP50 = p50(raw.map((r) => r.shipMs));
    ctx.record(
      `${e} shipped write p50`,
      p50(shippedLat),
      'ms',
      `sequential, ${SHIPPED_SAMPLES} writes in ${ROUNDS} rounds alternating with the raw floor's`,
    );
    ctx.record(
      `${e} raw ${adapter.rawLabel} p50`,
      rawP50,
      'ms',
      `one PUT of ${(putBytes / 1024).toFixed(0)} KiB (a ship's median); same storage, same run`,
    );
    ctx.record(
      `${e} shipped p50 − raw p50`,
      p50(shippedLat) - rawP50,
      'ms',
      `goal ≤ 20; load ${loadavg()[0]!.toFixed(1)} on the machine (both grow with it)`,
    );
    ctx.record(`${e} shipped p50 ÷ raw p50`, p50(shippedLat) / rawP50, '×', 'same run, alternating rounds');

    if (run.concurrent === false) return;
    // 16 concurrent writers: committed vs shipped.
    let failed = 0;
    const throughput = async (durability: 'committed' | 'shipped'): Promise<number> => {
      let done = 0;
      const end = performance.now() + CONCURRENT_S * 1000;
      const start = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENT }, async () => {
          while (performance.now() < end) {
            try {
              await a.execute(adapter.insert, [++rows, 'c'], { durability });
              done++;
            } catch {
              failed++;
            }
            // Let timers run (lease renewals) as a server's event loop would between requests.
            await new Promise((r) => setImmediate(r));
          }
        }),
      );
      return done / ((performance.now() - start) / 1000);
    };
    // One phase each (not alternating rounds: a short committed phase would leave its periodic
    // checkpoints to the pause after it, outside the measurement).
    const committedRate = await throughput('committed');
    // The follower applies the committed phase's checkpoints in this process: let it finish first.
    await waitVisible(b, await a.count(), 120_000);
    const shippedRate = await throughput('shipped');
    const note = (): string =>
      `goal ≥ 0.5; load ${loadavg()[0]!.toFixed(1)} on the machine${failed > 0 ? `; ${failed} writes failed` : ''}`;
    ctx.record(`${e} ${CONCURRENT} concurrent committed writers`, committedRate, 'rows/s');
    ctx.record(`${e} ${CONCURRENT} concurrent shipped writers`, shippedRate, 'rows/s');
    ctx.record(
      `${e} shipped / committed throughput (${CONCURRENT} writers)`,
      shippedRate / committedRate,
      '×',
      `${note()}; the follower runs in this process and on this disk, applying every ship`,
    );
    // The same two phases with the leader alone, as on a machine of its own (the follower's
    // applies and fsyncs no longer share its process and disk).
    await waitVisible(b, await a.count(), 120_000);
    await b.close();
    const aloneCommitted = await throughput('committed');
    const aloneShipped = await throughput('shipped');
    ctx.record(`${e} leader alone: ${CONCURRENT} committed writers`, aloneCommitted, 'rows/s');
    ctx.record(`${e} leader alone: ${CONCURRENT} shipped writers`, aloneShipped, 'rows/s');
    ctx.record(
      `${e} leader alone: shipped / committed throughput (${CONCURRENT} writers)`,
      aloneShipped / aloneCommitted,
      '×',
      note(),
    );
    // Little's law: N writers that each wait at least the raw floor per write (the raw p50 above:
    // the commit, plus what shipping it needs, plus one PUT) ship at most N ÷ that many rows a
    // second, however the shipping is batched or pipelined.
    const ceiling = CONCURRENT / (rawP50 / 1000);
    ctx.record(
      `${e} ceiling: ${CONCURRENT} shipped writers`,
      ceiling,
      'rows/s',
      `${CONCURRENT} ÷ the raw p50 (${rawP50.toFixed(1)} ms): no implementation ships faster here`,
    );
    ctx.record(
      `${e} ceiling ÷ leader-alone committed (${CONCURRENT} writers)`,
      ceiling / aloneCommitted,
      '×',
      'an upper bound: no shipped / committed ratio above it is possible on this machine',
    );
    ctx.record(
      `${e} leader alone: shipped writers ÷ ceiling`,
      aloneShipped / ceiling,
      '×',
      'how close group commit comes to the ceiling',
    );
    // Every writer waits for the ship that covers its write, so one ship covers at most one write
    // of each: a round of N writes is at least their commits (N ÷ the committed throughput) and
    // then one ship (the raw checkpoint + PUT after a commit). Shipping more often than once per
    // round overlaps writes with ships but pays that per-ship cost more than once per N writes.
    const commitsMs = (CONCURRENT / aloneCommitted) * 1000;
    const bound = commitsMs / (commitsMs + rawShipP50);
    ctx.record(
      `${e} one ship per round: shipped / committed bound (${CONCURRENT} writers)`,
      bound,
      '×',
      `${CONCURRENT} commits (${commitsMs.toFixed(1)} ms at the leader-alone committed rate) ÷ (those + the raw ${adapter.rawShipLabel} p50, ${rawShipP50.toFixed(1)} ms)`,
    );
    ctx.record(
      `${e} leader alone: shipped / committed ÷ one-ship-per-round bound`,
      aloneShipped / aloneCommitted / bound,
      '×',
      'how close group commit comes to that bound',
    );
  } finally {
    await b.close();
    await a.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
