import { access } from 'node:fs/promises';
import { resolveReplicateAdmin } from '../admin-config.js';
import type { Context } from '../context.js';
import { CliError } from '../errors.js';
import { runReplicate } from '../replicate.js';
import { resolveReplicatedDbs } from '../replicate-config.js';

/** `hadb replicate`: the sidecar daemon for the SQLite databases of the config file's `dbs:`. */
export async function replicate(ctx: Context, opts: { admin?: string } = {}): Promise<void> {
  const config = ctx.settings.config;
  if (config === undefined)
    throw new CliError(
      'HADB_CLI_INVALID_CONFIG',
      'hadb replicate needs a config file: --config hadb.yml (or HADB_CONFIG)',
    );
  const dbs = resolveReplicatedDbs(config, ctx.settings.env);
  for (const db of dbs) {
    try {
      await access(db.path);
    } catch {
      throw new CliError('HADB_CLI_DATABASE', `${db.name}: ${db.path} does not exist`);
    }
  }
  const admin = resolveReplicateAdmin(opts.admin, config.admin, ctx.settings.env, config.path);
  await runReplicate(dbs, ctx.io, ctx.settings.env, ctx.signal, admin);
}
