import { randomUUID } from 'node:crypto';
import { InstanceClaim, isCoordinatorError, resolveLeaseTiming } from '@hadb/core';
import { HaError } from './errors.js';
import type { ResolvedHaNodeOptions } from './options.js';

/**
 * Claims this node's instance id for its database in the lease store, before anything touches
 * the database (see core's `InstanceClaim`): a second live process with the same `instanceId`
 * fails with `HADB_HA_DUPLICATE_INSTANCE`; a restart after a crash waits one `ttl + margin`.
 * Release the returned claim when the node closes.
 */
export async function claimInstance<W, R, WR, RR>(o: ResolvedHaNodeOptions<W, R, WR, RR>): Promise<InstanceClaim> {
  const claim = new InstanceClaim({
    store: o.lease.store,
    db: o.name,
    instanceId: o.instanceId,
    timing: resolveLeaseTiming(o.lease),
    clock: o.clock,
    newId: randomUUID,
    logger: o.logger,
  });
  try {
    await claim.acquire(new AbortController().signal);
  } catch (err) {
    if (isCoordinatorError(err, 'HADB_CORE_DUPLICATE_INSTANCE')) {
      throw new HaError('HADB_HA_DUPLICATE_INSTANCE', err.message, { cause: err });
    }
    throw err;
  }
  return claim;
}
