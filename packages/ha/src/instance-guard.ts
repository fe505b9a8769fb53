import { randomUUID } from 'node:crypto';
import { InstanceClaim, isCoordinatorError, resolveLeaseTiming } from '@hadb/core';
import { HaError } from './errors.js';
import type { ResolvedHaNodeOptions } from './options.js';
import type { PathLock } from './path-lock.js';

/**
 * Claims this node's instance id for its database in the lease store, before anything touches
 * the database (see core's `InstanceClaim`): a second live process with the same `instanceId`
 * fails with `HADB_HA_DUPLICATE_INSTANCE`. A restart after a crash on the same path takes the
 * claim over at once when the path lock it took over from the dead process named that process's
 * claim; otherwise it waits for the holder's answer (`InstanceClaim.answerWaitMs`, about four
 * lease TTLs; `signal` cuts it, and nothing is held then). Once claimed, the claim's incarnation
 * is recorded in the path lock for the next restart. Release the returned claim when the node
 * closes.
 */
export async function claimInstance<W, R, WR, RR>(
  o: ResolvedHaNodeOptions<W, R, WR, RR>,
  lock: PathLock,
  signal: AbortSignal | undefined,
): Promise<InstanceClaim> {
  const dead = lock.deadHolder;
  const claim = new InstanceClaim({
    store: o.lease.store,
    db: o.name,
    instanceId: o.instanceId,
    timing: resolveLeaseTiming(o.lease),
    clock: o.clock,
    newId: randomUUID,
    logger: o.logger,
    deadIncarnation: dead?.instanceId === o.instanceId ? dead.incarnation : undefined,
  });
  try {
    await claim.acquire(signal ?? new AbortController().signal);
  } catch (err) {
    if (isCoordinatorError(err, 'HADB_CORE_DUPLICATE_INSTANCE')) {
      throw new HaError('HADB_HA_DUPLICATE_INSTANCE', err.message, { cause: err });
    }
    throw err;
  }
  try {
    lock.recordIncarnation(claim.incarnation);
  } catch (err) {
    await claim.release();
    throw err;
  }
  return claim;
}
