import { StorageNodeRegistry, isRegistrationValid } from '@hadb/core';
import { decodeLeaseData, isLeaseExpired } from '@hadb/lease';
import { describeObjects, listObjects } from '../catalog.js';
import { withLease, type Context } from '../context.js';
import { formatTime, table, toJson } from '../output.js';

/**
 * `hadb status <db>`: the lease holder, the durable head in storage, and every node of the
 * registry with its role, heartbeat age and whether its entry is current (follows the present
 * leader session and was seen within `6 × ttl`, as discovery decides).
 */
export async function status(ctx: Context, db: string, opts: { json?: boolean }): Promise<void> {
  await withLease(ctx, async (store, storage) => {
    const now = Date.now();
    const nowSecs = Math.floor(now / 1000);
    const record = await store.read(store.keyFor(db), { signal: ctx.signal });
    const lease = record === null ? null : decodeLeaseData(record.data);
    const live = lease !== null && !isLeaseExpired(lease, nowSecs);
    const objects = await listObjects(storage, db, { signal: ctx.signal });
    const newest = [...objects].sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0)).slice(-1);
    const headDetails =
      newest.length === 0 ? [] : await describeObjects(storage, newest, { signal: ctx.signal, epochs: false });
    const head = headDetails[0] ?? null;
    const headSeq = head === null ? null : (head.lastSeq ?? head.seq);
    const registry = new StorageNodeRegistry(storage);
    const nodes = await registry.discoverAll('', db, { signal: ctx.signal });
    const ttl = (lease?.ttlSecs ?? 5) * 6;
    const rows = nodes.map((n) => {
      const leader = live && lease !== null && n.instanceId === lease.instanceId;
      return {
        instance: n.instanceId,
        role: leader ? 'leader' : n.role,
        address: n.address,
        lastSeen: new Date(n.lastSeen * 1000).toISOString(),
        heartbeatAgeSecs: Math.max(0, nowSecs - n.lastSeen),
        current: lease !== null && isRegistrationValid(n, lease.sessionId, ttl, nowSecs),
        // Registry entries carry no replication position; the leader's is the durable head.
        position: leader ? headSeq : null,
        lag: leader ? 0 : null,
      };
    });
    if (live && lease !== null && !rows.some((r) => r.instance === lease.instanceId)) {
      rows.unshift({
        instance: lease.instanceId,
        role: 'leader',
        address: lease.address,
        lastSeen: new Date(lease.claimedAt * 1000).toISOString(),
        heartbeatAgeSecs: Math.max(0, nowSecs - lease.claimedAt),
        current: true,
        position: headSeq,
        lag: 0,
      });
    }
    const summary = {
      database: db,
      leader:
        live && lease !== null
          ? { instance: lease.instanceId, address: lease.address, epoch: lease.epoch ?? 0, session: lease.sessionId }
          : null,
      lease: lease === null ? 'none' : lease.released === true ? 'released' : live ? 'held' : 'expired',
      head:
        head === null
          ? null
          : { seq: headSeq, created: head.createdMs === null ? null : new Date(head.createdMs).toISOString() },
      nodes: rows,
    };
    if (opts.json === true) {
      ctx.io.out(toJson(summary));
      return;
    }
    ctx.io.out(
      `${db}: lease ${summary.lease}${summary.leader ? ` by ${summary.leader.instance} (epoch ${summary.leader.epoch})` : ''}; head seq ${headSeq ?? '-'} written ${formatTime(head?.createdMs ?? null)}`,
    );
    if (rows.length === 0) {
      ctx.io.out('no nodes registered');
      return;
    }
    for (const line of table(
      ['INSTANCE', 'ROLE', 'ADDRESS', 'POSITION', 'LAG', 'HEARTBEAT', 'STATE'],
      rows.map((r) => [
        r.instance,
        r.role,
        r.address || '-',
        r.position === null ? '-' : r.position.toString(),
        r.lag === null ? '-' : r.lag.toString(),
        `${r.heartbeatAgeSecs}s ago`,
        r.current ? 'current' : 'stale',
      ]),
    )) {
      ctx.io.out(line);
    }
  });
}
