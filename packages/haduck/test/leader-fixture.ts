import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TermFence } from '@hadb/core';
import { ForwardingClient, HaError, ShipScheduler, type ForwardTarget } from '@hadb/ha';
import { silentLogger, systemClock } from '@hadb/io';
import type { SnapshotPolicy } from '@hadb/duckblock';
import type { StorageBackend } from '@hadb/storage';
import { LocalStorageBackend } from '@hadb/storage-local';
import { duckEngine } from '../src/duck-engine.js';
import type { DuckLeader } from '../src/duck-leader.js';
import { isDuckClientError } from '../src/errors.js';
import type { DuckLimits, ExecuteResult, QueryResult } from '../src/sql.js';
import type { HaParams } from '../src/values.js';
import { duckWire, type DuckRead, type DuckWrite } from '../src/wire.js';

type Statements = readonly { readonly sql: string; readonly params?: HaParams | undefined }[];

/**
 * A real leader without the coordinator: haduck's DuckDB leader side on a file in a temp dir,
 * shipping through duckblock to local storage under a term that does not expire, on the HA
 * layer's ship scheduler. `leading = false` makes its checks refuse writes as a node that lost the
 * lease would; `fenced = true` refuses ships like an ended term.
 */
export class TestLeader {
  readonly dir = mkdtempSync(join(tmpdir(), 'haduck-fw-'));
  leading = true;
  /** When set, the term has ended: checkpoints are refused like those of a fenced leader. */
  fenced = false;
  /** Calls that reached the target (to tell a refused request from one that never arrived). */
  readonly calls: string[] = [];
  side!: DuckLeader;
  scheduler!: ShipScheduler;
  #storage!: LocalStorageBackend;
  get storage(): LocalStorageBackend {
    return this.#storage;
  }
  #replicationClose: () => Promise<void> = async () => undefined;

  /**
   * `snapshot` is duckblock's snapshot policy; `storage` wraps the local storage the leader ships
   * to (for example with `withFaults`).
   */
  static async open(
    limits?: DuckLimits,
    o: {
      snapshot?: SnapshotPolicy;
      storage?: (inner: StorageBackend) => StorageBackend;
    } = {},
  ): Promise<TestLeader> {
    const self = new TestLeader();
    self.#storage = await LocalStorageBackend.open({ root: join(self.dir, 'storage') });
    const path = join(self.dir, 'leader.duckdb');
    const storage = o.storage?.(self.#storage) ?? self.#storage;
    const engine = duckEngine({ storage, prefix: 'haduck/', duckdbConfig: {}, limits, snapshot: o.snapshot })({
      db: 'fw',
      path,
      clock: systemClock,
      logger: silentLogger,
      onApplied: async () => undefined,
    });
    const fence = new TermFence({
      db: 'fw',
      epoch: 1,
      clock: systemClock,
      sentAt: systemClock.now(),
      windowMs: Infinity,
    });
    await engine.replicator.startLineage('fw', path, { db: 'fw', epoch: 1, instanceId: 'a', sessionId: 's', fence });
    const checkTerm = (): void => {
      if (self.fenced) throw new HaError('HADB_HA_FENCED', 'this node lost its lease');
      fence.check();
    };
    self.side = (await engine.openLeader({
      checkWrite: () => {
        if (!self.leading) throw new HaError('HADB_HA_NOT_LEADER', 'this node is not the leader');
      },
      checkTerm,
      committed: () => self.scheduler.committed(),
    })) as DuckLeader;
    self.scheduler = new ShipScheduler({
      clock: systemClock,
      intervalMs: 60_000,
      idleShipEveryTicks: 0,
      groupCommitMs: false,
      ship: (o) => self.side.ship(o),
      onShipped: () => undefined,
      onError: () => undefined,
    });
    self.#replicationClose = async () => {
      await engine.replicator.remove('fw');
    };
    return self;
  }

  /** The leader as the tests use it: the DuckDB side plus the scheduler's ship and wait calls. */
  get engine() {
    const side = this.side;
    const scheduler = this.scheduler;
    return {
      path: side.path,
      execute: (sql: string, params?: HaParams, o: { token?: string } = {}) => side.execute(sql, params, o),
      batch: (statements: Statements, o: { token?: string } = {}) => side.batch(statements, o),
      query: (sql: string, params?: HaParams) => side.query(sql, params),
      checkpoint: () => scheduler.shipOnce(),
      sync: () => scheduler.sync(),
      waitShipped: (seq: number) => scheduler.waitShipped(seq),
      get commitSeq() {
        return scheduler.commitSeq;
      },
      get dirty() {
        return scheduler.dirty;
      },
      get stats() {
        const c = scheduler.counters;
        const e = side.counters();
        return { ...c, checkpoints: e.checkpoints ?? 0, unexpectedCheckpoints: e.unexpectedCheckpoints ?? 0 };
      },
    };
  }

  /** The forwarding target, as the HA node implements it for its leader side. */
  readonly target: ForwardTarget<DuckWrite, DuckRead, ExecuteResult, QueryResult> = {
    write: async (write, token, durability) => {
      this.calls.push(write.kind);
      const r = await this.side.write(write, { token });
      if (durability === 'shipped') await this.scheduler.sync();
      return r;
    },
    read: async (read) => {
      this.calls.push('query');
      if (!this.leading) throw new HaError('HADB_HA_NOT_LEADER', 'this node is not the leader');
      return this.side.read(read);
    },
    isClientError: isDuckClientError,
  };

  async close(): Promise<void> {
    await this.scheduler.stop();
    await this.side.close();
    await this.#replicationClose();
    await this.#storage.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A SQL-shaped client over the HA layer's generic forwarding client (the calls the tests make). */
export function sqlClient(options: { secret?: string; timeoutMs?: number }) {
  const client = new ForwardingClient({ codec: duckWire, ...options });
  return {
    execute: (
      address: string,
      sql: string,
      params: HaParams | undefined,
      token: string,
      durability: 'committed' | 'shipped',
      signal?: AbortSignal,
    ) => client.write(address, { kind: 'execute', sql, params }, token, durability, signal),
    batch: (
      address: string,
      statements: Statements,
      token: string,
      durability: 'committed' | 'shipped',
      signal?: AbortSignal,
    ) => client.write(address, { kind: 'batch', statements }, token, durability, signal),
    query: (address: string, sql: string, params: HaParams | undefined, signal?: AbortSignal) =>
      client.read(address, { sql, params }, signal),
  };
}
