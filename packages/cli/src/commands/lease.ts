import { decodeLeaseData, isLeaseExpired, releaseLease, type LeaseData } from '@hadb/lease';
import { withLease, type Context } from '../context.js';
import { CliError } from '../errors.js';
import { formatTime, toJson } from '../output.js';

function stateOf(lease: LeaseData, nowSecs: number): string {
  if (lease.released === true) return 'released';
  if (isLeaseExpired(lease, nowSecs)) return 'expired';
  return lease.sleeping ? 'held (sleeping)' : 'held';
}

function describeLease(db: string, key: string, lease: LeaseData, etag: string) {
  const now = Math.floor(Date.now() / 1000);
  return {
    database: db,
    key,
    state: stateOf(lease, now),
    holder: lease.instanceId,
    address: lease.address,
    session: lease.sessionId,
    epoch: lease.epoch ?? 0,
    claimedAt: lease.claimedAt === 0 ? null : new Date(lease.claimedAt * 1000).toISOString(),
    ttlSecs: lease.ttlSecs,
    expiresAt: lease.released === true ? null : new Date((lease.claimedAt + lease.ttlSecs) * 1000).toISOString(),
    sleeping: lease.sleeping,
    etag,
  };
}

/** `hadb lease show <db>`. */
export async function leaseShow(ctx: Context, db: string, opts: { json?: boolean }): Promise<void> {
  await withLease(ctx, async (store) => {
    const key = store.keyFor(db);
    const record = await store.read(key, { signal: ctx.signal });
    if (record === null) {
      if (opts.json === true) ctx.io.out(toJson({ database: db, key, state: 'none' }));
      else ctx.io.out(`${db}: no lease (${store.name} ${key})`);
      return;
    }
    const info = describeLease(db, key, decodeLeaseData(record.data), record.etag);
    if (opts.json === true) {
      ctx.io.out(toJson(info));
      return;
    }
    ctx.io.out(`${db}: ${info.state} by ${info.holder || '-'}${info.address ? ` at ${info.address}` : ''}`);
    ctx.io.out(
      `  epoch ${info.epoch}, session ${info.session || '-'}, claimed ${formatTime(info.claimedAt === null ? null : Date.parse(info.claimedAt))}, ttl ${info.ttlSecs} s, expires ${formatTime(info.expiresAt === null ? null : Date.parse(info.expiresAt))}`,
    );
    ctx.io.out(`  store ${store.name}, key ${key}, etag ${info.etag}`);
  });
}

/**
 * `hadb lease release <db>`: writes the released record conditionally on the current etag (the
 * epoch is kept, so the next holder still fences the old one). A live lease needs `--force`.
 */
export async function leaseRelease(ctx: Context, db: string, opts: { force?: boolean }): Promise<void> {
  await withLease(ctx, async (store) => {
    const key = store.keyFor(db);
    const record = await store.read(key, { signal: ctx.signal });
    if (record === null) {
      ctx.io.out(`${db}: no lease to release`);
      return;
    }
    const lease = decodeLeaseData(record.data);
    if (lease.released === true) {
      ctx.io.out(`${db}: lease already released`);
      return;
    }
    if (!isLeaseExpired(lease) && opts.force !== true) {
      throw new CliError(
        'HADB_CLI_USAGE',
        `${db}: lease is held by ${lease.instanceId} until ${formatTime((lease.claimedAt + lease.ttlSecs) * 1000)}; pass --force to release a live lease (its holder will be fenced)`,
      );
    }
    const result = await releaseLease(store, key, { lease, etag: record.etag }, { signal: ctx.signal });
    if (!result.success)
      throw new CliError(
        'HADB_CLI_DATABASE',
        `${db}: the lease changed while releasing it; nothing written (run lease show)`,
      );
    ctx.io.out(`${db}: released the lease of ${lease.instanceId} (epoch ${lease.epoch ?? 0})`);
  });
}
