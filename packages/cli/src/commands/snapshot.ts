import { access } from 'node:fs/promises';
import { withStorage, type Context } from '../context.js';
import { CliError } from '../errors.js';
import { formatBytes, toJson } from '../output.js';
import { snapshotSqlite } from '../sqlite.js';

/** `hadb snapshot <db-file>`: stores a full snapshot of a SQLite database now. */
export async function snapshot(ctx: Context, file: string, opts: { name?: string; json?: boolean }): Promise<void> {
  try {
    await access(file);
  } catch {
    throw new CliError('HADB_CLI_DATABASE', `${file} does not exist`);
  }
  await withStorage(
    ctx,
    async (storage) => {
      const result = await snapshotSqlite(storage, file, opts.name, ctx.signal);
      if (opts.json === true) ctx.io.out(toJson({ database: result.name, file, seq: result.seq, bytes: result.bytes }));
      else ctx.io.out(`${result.name}: snapshot at seq ${result.seq} (${formatBytes(result.bytes)})`);
    },
    { create: true },
  );
}
