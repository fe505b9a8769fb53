import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckblockError } from '@hadb/duckblock';
import { systemClock } from '@hadb/io';
import { afterEach, expect, it } from 'vitest';
import { DuckLeader, type CheckpointShipper } from '../src/duck-leader.js';

let dir: string | undefined;
let leader: DuckLeader | undefined;
afterEach(async () => {
  await leader?.close();
  leader = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const context = { checkWrite: () => undefined, checkTerm: () => undefined, committed: () => undefined };

it('captures outside the write lock; after a torn read it captures again under the lock', async () => {
  dir = mkdtempSync(join(tmpdir(), 'haduck-atrest-'));
  const events: string[] = [];
  let captures = 0;
  let pendingWrite: Promise<unknown> | undefined;
  const shipper: CheckpointShipper = {
    async capture() {
      captures++;
      // A writer arriving during the capture: it runs at once outside the lock, waits under it.
      pendingWrite = leader!.execute('INSERT INTO t VALUES ($1)', [captures]).then(() => {
        events.push(`write ${captures} committed`);
      });
      // Outside the lock the write commits while the capture waits for it (under the lock this
      // would never resolve); under the lock it waits for the capture.
      if (captures === 1) await pendingWrite;
      else await new Promise((r) => setTimeout(r, 200));
      events.push(`capture ${captures} done`);
      if (captures === 1) throw new DuckblockError('HADB_DUCKBLOCK_TORN_READ', 'block 3 changed while it was read');
      return null;
    },
    async snapshot() {},
  };
  leader = await DuckLeader.open({ path: join(dir, 'a.duckdb'), context, shipper, clock: systemClock });
  await leader.execute('CREATE TABLE t (n INTEGER)');
  const report = await leader.ship({ capturePoint: () => undefined });
  await pendingWrite;
  expect(report.bytes).toBe(0);
  expect(captures).toBe(2);
  // First capture (outside the lock): the write committed during it. Second (under the lock):
  // the write waited for it.
  expect(events).toEqual(['write 1 committed', 'capture 1 done', 'capture 2 done', 'write 2 committed']);
  expect(leader.counters().lockedRetries).toBe(1);
});
