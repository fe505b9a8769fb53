import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { LocalStorageBackend } from '@hadb/storage-local';
import { decodeSegment, type Segment } from '../sim/sim-replica.js';

/** What each node process gets (as JSON in HADB_NODE_CONFIG). */
export interface NodeConfig {
  readonly name: string;
  readonly backend: 'nats' | 'etcd';
  readonly url: string;
  /** NATS bucket / etcd prefix of this run (isolates runs from each other). */
  readonly namespace: string;
  readonly storageRoot: string;
  readonly db: string;
  readonly ttlMs: number;
  readonly renewIntervalMs: number;
  readonly pollIntervalMs: number;
  readonly skewMarginMs: number;
  readonly writeEveryMs: number;
}

/** Timing of a failover run. */
export interface FailoverTiming {
  readonly ttlMs: number;
  readonly renewIntervalMs: number;
  readonly pollIntervalMs: number;
  readonly skewMarginMs: number;
}

/** TTL 5 s defaults and a 2 s profile (same proportions: renew 0.3–0.4 TTL, margin 0.2 TTL). */
export const TIMINGS: Readonly<Record<'5s' | '2s', FailoverTiming>> = {
  '5s': { ttlMs: 5000, renewIntervalMs: 2000, pollIntervalMs: 1000, skewMarginMs: 1000 },
  '2s': { ttlMs: 2000, renewIntervalMs: 600, pollIntervalMs: 300, skewMarginMs: 400 },
};

interface NodeEvent {
  readonly ev: string;
  readonly node: string;
  readonly at: number;
  readonly [k: string]: unknown;
}

/** Outcome of one leader SIGKILL. */
export interface FailoverResult {
  /** Leader SIGKILL → another node emitted `promoted`, wall-clock ms on this machine. */
  readonly failoverMs: number;
  readonly killedEpoch: number;
  readonly newEpoch: number;
  /** Acknowledged segments missing from storage afterwards (must be 0). */
  readonly lostAcks: number;
  readonly acks: number;
  readonly violations: readonly string[];
}

const MAIN = fileURLToPath(new URL('./node-main.ts', import.meta.url));

class NodeProc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly events: NodeEvent[] = [];
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<void>;

  constructor(cfg: NodeConfig) {
    this.name = cfg.name;
    this.child = spawn(process.execPath, ['--conditions=hadb-source', '--import', 'tsx', MAIN], {
      env: { ...process.env, HADB_NODE_CONFIG: JSON.stringify(cfg) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as NodeEvent);
      } catch {
        return;
      }
      for (const wake of [...this.waiters]) wake();
    });
  }

  last(ev: string, type?: string): NodeEvent | undefined {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i]!;
      if (e.ev === ev && (type === undefined || e.type === type)) return e;
    }
    return undefined;
  }

  get role(): string | undefined {
    const e = [...this.events]
      .reverse()
      .find((x) => x.ev === 'role' && (x.type === 'joined' || x.type === 'promoted' || x.type === 'demoted'));
    if (e === undefined) return undefined;
    return e.type === 'promoted' ? 'leader' : e.type === 'demoted' ? 'follower' : (e.role as string);
  }

  get position(): number {
    return (this.last('pos')?.pos as number | undefined) ?? 0;
  }

  changed(): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
    });
  }
}

async function until(nodes: readonly NodeProc[], pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    const left = end - Date.now();
    if (left <= 0) {
      const state = nodes
        .map((n) => `${n.name}:${n.role ?? '?'}@${n.position}${n.child.exitCode === null ? '' : '(exited)'}`)
        .join(' ');
      throw new Error(`timed out waiting for ${what}: ${state}`);
    }
    await Promise.race([...nodes.map((n) => n.changed()), new Promise((r) => setTimeout(r, Math.min(left, 100)))]);
  }
}

/**
 * Starts three node processes sharing one storage-local directory and one lease store, then
 * `kills` times: waits for a leader with caught-up followers, SIGKILLs the leader at a random point
 * of its renewal cycle, measures until another process reports `promoted`, restarts the killed node
 * as a fresh process. Finally checks that every acknowledged segment is in storage.
 */
export async function runFailovers(options: {
  readonly backend: 'nats' | 'etcd';
  readonly url: string;
  readonly timing: FailoverTiming;
  readonly kills: number;
  readonly nodes?: number;
}): Promise<FailoverResult[]> {
  const { timing } = options;
  const dir = await mkdtemp(join(tmpdir(), 'hadb-core-failover-'));
  const namespace = `hadb-core-${process.pid}-${Date.now().toString(36)}`;
  const db = 'bench';
  const config = (name: string): NodeConfig => ({
    name,
    backend: options.backend,
    url: options.url,
    namespace,
    storageRoot: dir,
    db,
    ...timing,
    writeEveryMs: 100,
  });
  let nodes: NodeProc[] = [];
  const all: NodeProc[] = [];
  const spawnNode = (name: string): NodeProc => {
    const n = new NodeProc(config(name));
    all.push(n);
    return n;
  };
  const results: Array<Omit<FailoverResult, 'lostAcks' | 'acks' | 'violations'>> = [];
  try {
    for (let i = 1; i <= (options.nodes ?? 3); i++) nodes.push(spawnNode(`p${i}`));
    for (let k = 0; k < options.kills; k++) {
      const leaderOf = (): NodeProc | undefined => nodes.find((n) => n.role === 'leader');
      await until(
        nodes,
        () => leaderOf() !== undefined && nodes.every((n) => n.role !== undefined),
        60_000,
        'a leader',
      );
      const leader = leaderOf()!;
      const others = nodes.filter((n) => n !== leader);
      const from = leader.position;
      // Followers poll once per pollIntervalMs while the leader writes every 100 ms.
      const lag = Math.ceil(timing.pollIntervalMs / 100) + 3;
      await until(
        nodes,
        () =>
          leader.position >= from + 5 &&
          others.every((n) => n.role === 'follower' && n.position >= leader.position - lag),
        30_000,
        'caught-up followers',
      );
      await new Promise((r) => setTimeout(r, Math.random() * timing.renewIntervalMs));
      const killedEpoch = (leader.last('role', 'promoted')?.epoch ?? leader.last('term')?.epoch) as number;
      const killedAt = Date.now();
      leader.child.kill('SIGKILL');
      await leader.exited;
      const promoted = (): NodeEvent | undefined =>
        others
          .map((n) => n.events.find((e) => e.ev === 'role' && e.type === 'promoted' && e.at >= killedAt))
          .find((e) => e !== undefined);
      await until(others, () => promoted() !== undefined, 6 * timing.ttlMs, 'a promotion');
      const event = promoted()!;
      results.push({ failoverMs: event.at - killedAt, killedEpoch, newEpoch: event.epoch as number });
      nodes = [...others, spawnNode(leader.name)];
    }
    // Let the last leader write a little, then check storage against every acknowledgement.
    const last = nodes.find((n) => n.role === 'leader')!;
    const acked = last.events.filter((e) => e.ev === 'ack').length;
    await until(
      nodes,
      () => last.events.filter((e) => e.ev === 'ack').length >= acked + 3,
      10_000,
      'writes after failover',
    );
    const acks = all.flatMap((n) => n.events.filter((e) => e.ev === 'ack')) as unknown as Array<{
      seq: number;
      id: string;
    }>;
    const storage = await LocalStorageBackend.open({ root: dir });
    let lostAcks = 0;
    try {
      const chain = new Map<number, Segment>();
      for (const key of await storage.list(`${db}/seg/`)) {
        const obj = await storage.get(key);
        if (obj !== null) {
          const seg = decodeSegment(obj.data);
          chain.set(seg.seq, seg);
        }
      }
      for (const ack of acks) if (chain.get(ack.seq)?.id !== ack.id) lostAcks++;
      for (const [seq, seg] of chain) {
        if (seq > 1 && chain.get(seq - 1)?.id !== seg.prev) throw new Error(`storage chain broken at ${seq}`);
      }
    } finally {
      await storage.close();
    }
    const violations = all.flatMap((n) =>
      n.events.filter((e) => e.ev === 'violation').map((e) => `${n.name}: ${String(e.message)}`),
    );
    return results.map((r) => ({ ...r, lostAcks, acks: acks.length, violations }));
  } finally {
    for (const n of all) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGTERM');
    await Promise.all(
      all.map((n) =>
        Promise.race([
          n.exited,
          new Promise<void>((r) => setTimeout(r, 5000)).then(() => void n.child.kill('SIGKILL')),
        ]),
      ),
    );
    await rm(dir, { recursive: true, force: true });
  }
}
