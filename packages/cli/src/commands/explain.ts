import { stringify } from 'yaml';
import { resolveReplicateAdmin } from '../admin-config.js';
import { awsCredentials } from '../backends.js';
import { DEFAULT_RETENTION } from '../config.js';
import type { Context } from '../context.js';
import { resolveReplicatedDbs } from '../replicate-config.js';
import { parseLeaseUrl, parseStorageUrl, redactUrl } from '../urls.js';

/** Identity files are named; literal keys are shown as `AGE-SECRET-KEY-****`. */
function maskIdentities(ids: readonly string[]): string[] {
  return ids.map((i) =>
    /^AGE-SECRET-KEY-/i.test(i.trim()) ? 'AGE-SECRET-KEY-**** (literal key)' : `${i} (identity file)`,
  );
}

/** `hadb explain`: the resolved configuration and where each part came from; secrets are masked. */
export async function explain(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const { settings } = ctx;
  const env = settings.env;
  const storage = settings.storage === undefined ? undefined : parseStorageUrl(settings.storage.value, env);
  const lease = parseLeaseUrl(settings.lease.value);
  const creds = awsCredentials(env);
  const admin =
    settings.config === undefined
      ? undefined
      : resolveReplicateAdmin(undefined, settings.config.admin, env, settings.config.path);
  const out = {
    config: settings.config?.path ?? null,
    storage:
      settings.storage === undefined
        ? null
        : {
            url: redactUrl(settings.storage.value),
            from: settings.storage.source,
            ...storage,
            ...(storage?.kind === 's3'
              ? {
                  credentials:
                    creds === undefined
                      ? 'AWS SDK default chain (no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY set)'
                      : `AWS_ACCESS_KEY_ID=****, AWS_SECRET_ACCESS_KEY=****${creds.sessionToken ? ', AWS_SESSION_TOKEN=****' : ''} (from the environment)`,
                }
              : {}),
          },
    lease: { url: redactUrl(settings.lease.value), from: settings.lease.source, ...lease },
    age:
      settings.age.value.identities.length === 0
        ? null
        : {
            from: settings.age.source,
            identities: maskIdentities(settings.age.value.identities),
            recipients: settings.age.value.recipients,
          },
    retention: { ...DEFAULT_RETENTION, ...settings.config?.retention },
    admin:
      admin === undefined
        ? null
        : {
            listen: `${admin.server.host}:${admin.server.port}`,
            from: admin.from,
            node: admin.node,
            token: admin.server.token === undefined ? 'none (loopback only)' : '****',
            webhooks: admin.server.webhooks?.targets.map((t) => ({
              url: redactUrl(t.url),
              signed: t.secret !== undefined,
            })),
            heartbeat: admin.server.heartbeat === undefined ? undefined : redactUrl(admin.server.heartbeat.url),
          },
    dbs:
      settings.config?.dbs === undefined
        ? []
        : resolveReplicatedDbs(settings.config, env).map((d) => ({
            name: d.name,
            path: d.path,
            replica: { url: redactUrl(d.url), ...d.target },
            ...(d.ageIdentities.length > 0
              ? { age: { identities: maskIdentities(d.ageIdentities), recipients: d.ageRecipients } }
              : {}),
            syncInterval: d.syncIntervalMs ?? 'default (1s)',
            checkpointInterval: d.checkpointIntervalMs ?? 'default (1m)',
            snapshotInterval: d.snapshotIntervalMs ?? 'default (24h)',
            retention: d.retention ?? 'none (keep everything)',
            ...(d.retention === undefined ? {} : { retentionInterval: d.retentionIntervalMs }),
          })),
  };
  if (opts.json === true) ctx.io.out(JSON.stringify(out, null, 2));
  else ctx.io.out(stringify(out).trimEnd());
}
