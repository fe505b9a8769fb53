import type { AdminServer } from '@hadb/admin';
import type { StorageBackend } from '@hadb/storage';
import type { DatabaseReplicator, Walstream, WalstreamEvent } from '@hadb/walstream';
import { resolveAgeKeys } from './age.js';
import type { ReplicateAdmin } from './admin-config.js';
import { loadBackend, openStorage } from './backends.js';
import { formatBytes, type Io } from './output.js';
import type { ReplicatedDb } from './replicate-config.js';
import { redactUrl } from './urls.js';

interface Group {
  readonly storage: StorageBackend;
  readonly walstream: Walstream;
  readonly dbs: ReplicatedDb[];
}

function describe(error: unknown): string {
  const e = error as { code?: string; message?: string };
  return `${e.code ? `${e.code}: ` : ''}${e.message ?? String(error)}`;
}

function eventLine(e: WalstreamEvent): string | null {
  switch (e.type) {
    case 'shipped':
      return `${e.db}: shipped seq ${e.seq} (${e.pages} pages, ${formatBytes(e.bytes)})`;
    case 'snapshot':
      return `${e.db}: snapshot at seq ${e.seq} (${formatBytes(e.bytes)}, ${e.reason}${e.lineage ? ', new lineage' : ''})`;
    case 'checkpoint':
      return null;
    case 'error':
      return null;
  }
}

/**
 * The replication daemon: one `Walstream` per distinct replica (storage URL and keys), every
 * database added to its group, GFS retention on a timer where configured, and with `admin` one
 * admin server whose sources are the groups' walstreams (node `name`, or `name (replica URL)`
 * when there are several groups). Runs until `signal` aborts, then closes every database with a
 * final sync (what is committed is shipped) and the storage backends. A database that fails to
 * start stops the daemon (the others are closed).
 */
export async function runReplicate(
  dbs: readonly ReplicatedDb[],
  io: Io,
  env: NodeJS.ProcessEnv,
  signal: AbortSignal,
  admin?: ReplicateAdmin,
): Promise<void> {
  const ws = await loadBackend('walstream');
  const groups = new Map<string, Group>();
  const timers: NodeJS.Timeout[] = [];
  const onEvent = (e: WalstreamEvent): void => {
    if (e.type === 'error') io.err(`hadb: ${e.db}: ${describe(e.error)} (retrying)`);
    else {
      const line = eventLine(e);
      if (line !== null) io.out(line);
    }
  };
  const started: DatabaseReplicator[] = [];
  const errors: unknown[] = [];
  let adminServer: AdminServer | undefined;
  const groupKey = (db: ReplicatedDb): string => JSON.stringify([db.url, db.ageIdentities, db.ageRecipients]);
  try {
    const groupCount = new Set(dbs.map(groupKey)).size;
    for (const db of dbs) {
      const key = groupKey(db);
      if (groups.has(key)) continue;
      const age = await resolveAgeKeys(db.ageIdentities, db.ageRecipients, `${db.name}: replica`);
      // The S3 backend's breaker opens before the group exists; it reports through `group`.
      let group: Group | undefined;
      const onBreakerOpen = (failures: number): void => {
        io.err(`hadb: ${redactUrl(db.url)}: storage circuit breaker open after ${failures} consecutive failures`);
        for (const d of group?.dbs ?? [])
          group?.walstream.adminSource.alert({ type: 'circuit_breaker_open', db: d.name, context: { failures } });
      };
      const storage = await openStorage(db.target, env, signal, age, { create: true, onBreakerOpen });
      const nodeId = admin === undefined || groupCount === 1 ? admin?.node : `${admin.node} (${redactUrl(db.url)})`;
      const walstream = await ws.Walstream.open({ storage, onEvent, ...(nodeId === undefined ? {} : { nodeId }) });
      group = { storage, walstream, dbs: [] };
      groups.set(key, group);
    }
    if (admin !== undefined) {
      const { startAdminServer } = await loadBackend('admin');
      adminServer = await startAdminServer({
        ...admin.server,
        sources: [...groups.values()].map((g) => g.walstream.adminSource),
        signal,
      });
      io.out(`admin: ${adminServer.url}`);
    }
    for (const db of dbs) {
      const group = groups.get(groupKey(db))!;
      group.dbs.push(db);
      const r = await group.walstream.add(db.path, {
        name: db.name,
        signal,
        ...(db.syncIntervalMs === undefined ? {} : { syncIntervalMs: db.syncIntervalMs }),
        checkpoint: {
          ...(db.checkpointIntervalMs === undefined ? {} : { intervalMs: db.checkpointIntervalMs }),
          ...(db.minCheckpointPages === undefined ? {} : { minPages: db.minCheckpointPages }),
        },
        snapshot: db.snapshotIntervalMs === undefined ? {} : { intervalMs: db.snapshotIntervalMs },
      });
      started.push(r);
      io.out(`${db.name}: replicating ${db.path} from seq ${r.status().seq}`);
      if (db.retention !== undefined && db.retentionIntervalMs > 0) {
        const storage = group.storage;
        const tiers = db.retention;
        let running = false;
        const tick = (): void => {
          if (running || signal.aborted) return;
          running = true;
          ws.applyRetention({ storage, name: db.name, tiers, force: true, signal })
            .then((res) => {
              if (res.deletedObjects > 0) io.out(`${db.name}: retention deleted ${res.deletedObjects} objects`);
            })
            .catch((error: unknown) => {
              if (!signal.aborted) io.err(`hadb: ${db.name}: retention failed: ${describe(error)}`);
            })
            .finally(() => (running = false));
        };
        timers.push(setInterval(tick, db.retentionIntervalMs));
      }
    }
    io.out(`ready: replicating ${started.length} database${started.length === 1 ? '' : 's'}`);
    if (!signal.aborted)
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    io.out('stopping: final sync');
  } catch (error) {
    errors.push(error);
  } finally {
    for (const t of timers) clearInterval(t);
    await adminServer?.close().catch((e: unknown) => errors.push(e));
    for (const g of groups.values()) {
      // A final sync must not be cut short by the signal that asked for it.
      await g.walstream.close({ final: true }).catch((e: unknown) => errors.push(e));
      await g.storage.close().catch((e: unknown) => errors.push(e));
    }
  }
  if (errors.length > 0) throw errors[0];
  io.out(`stopped: ${started.map((r) => `${r.name} at seq ${r.status().seq}`).join(', ')}`);
}
