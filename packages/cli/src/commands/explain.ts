import { stringify } from 'yaml';
import { awsCredentials } from '../backends.js';
import { DEFAULT_RETENTION } from '../config.js';
import type { Context } from '../context.js';
import { parseLeaseUrl, parseStorageUrl, redactUrl } from '../urls.js';

/** `hadb explain`: the resolved configuration and where each part came from; secrets are masked. */
export async function explain(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const { settings } = ctx;
  const env = settings.env;
  const storage = settings.storage === undefined ? undefined : parseStorageUrl(settings.storage.value, env);
  const lease = parseLeaseUrl(settings.lease.value);
  const creds = awsCredentials(env);
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
    retention: { ...DEFAULT_RETENTION, ...settings.config?.retention },
  };
  if (opts.json === true) ctx.io.out(JSON.stringify(out, null, 2));
  else ctx.io.out(stringify(out).trimEnd());
}
