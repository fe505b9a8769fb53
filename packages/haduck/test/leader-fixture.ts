import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TermFence, systemClock } from '@hadb/core';
import { LocalStorageBackend } from '@hadb/storage-local';
import { HaDuckError } from '../src/errors.js';
import type { ForwardTarget } from '../src/forwarding/server.js';
import { LeaderEngine } from '../src/leader-engine.js';
import { duckblockReplication } from '../src/replication.js';

/**
 * A real leader without the coordinator: a LeaderEngine on a DuckDB file in a temp dir, shipping
 * through duckblock to local storage under a term that does not expire. `leading = false` makes
 * its guard refuse writes as a node that lost the lease would.
 */
export class TestLeader {
  readonly dir = mkdtempSync(join(tmpdir(), 'haduck-fw-'));
  leading = true;
  /** When set, the term has ended: checkpoints are refused like those of a fenced leader. */
  fenced = false;
  /** Calls that reached the target (to tell a refused request from one that never arrived). */
  readonly calls: string[] = [];
  engine!: LeaderEngine;
  #storage!: LocalStorageBackend;
  get storage(): LocalStorageBackend {
    return this.#storage;
  }
  #replicationClose: () => Promise<void> = async () => undefined;

  static async open(): Promise<TestLeader> {
    const self = new TestLeader();
    self.#storage = await LocalStorageBackend.open({ root: join(self.dir, 'storage') });
    const replication = duckblockReplication({ storage: self.#storage, prefix: 'haduck/', onApplied: async () => undefined });
    const path = join(self.dir, 'leader.duckdb');
    const fence = new TermFence({ db: 'fw', epoch: 1, clock: systemClock, sentAt: systemClock.now(), windowMs: Infinity });
    await replication.replicator.add('fw', path, { db: 'fw', epoch: 1, instanceId: 'a', sessionId: 's', fence });
    self.engine = await LeaderEngine.open({
      path,
      guard: () => {
        if (!self.leading) throw new HaDuckError('HADB_HADUCK_NOT_LEADER', 'this node is not the leader');
      },
      fence: () => {
        if (self.fenced) throw new HaDuckError('HADB_HADUCK_FENCED', 'this node lost its lease');
        fence.check();
      },
      shipper: replication.shipper('fw'),
    });
    self.#replicationClose = async () => {
      await replication.replicator.remove('fw');
      await replication.afterLeaderClose(path);
    };
    return self;
  }

  /** The forwarding target, as `HaDuck` implements it for its leader side. */
  readonly target: ForwardTarget = {
    leaderExecute: async (sql, params, token, durability) => {
      this.calls.push('execute');
      const r = await this.engine.execute(sql, params, { token });
      if (durability === 'shipped') await this.engine.sync();
      return r;
    },
    leaderBatch: async (statements, token, durability) => {
      this.calls.push('batch');
      const r = await this.engine.batch(statements, { token });
      if (durability === 'shipped') await this.engine.sync();
      return r;
    },
    leaderQuery: async (sql, params) => {
      this.calls.push('query');
      if (!this.leading) throw new HaDuckError('HADB_HADUCK_NOT_LEADER', 'this node is not the leader');
      return this.engine.query(sql, params);
    },
  };

  async close(): Promise<void> {
    await this.engine.close({ ship: false });
    await this.#replicationClose();
    await this.#storage.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
