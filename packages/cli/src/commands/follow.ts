import { pullIncremental } from '@hadb/duckblock';
import { sleepUnlessAborted, systemClock } from '@hadb/io';
import { withStorage, type Context } from '../context.js';
import { describeObjects, engineOf, requireObjects } from '../catalog.js';
import { CliError } from '../errors.js';
import { followSqlite } from '../sqlite.js';

/**
 * `hadb follow <db> <path>`: keeps a read replica at `path` restored continuously (the latest
 * snapshot, then every new segment or incremental, verified as applied) until SIGINT/SIGTERM.
 * DuckDB replicas go through duckblock, SQLite replicas through walstream's `Follower` (readers
 * may keep the file open). The position is kept beside the replica, so a restart resumes.
 */
export async function follow(
  ctx: Context,
  db: string,
  path: string,
  opts: { intervalMs: number; parallel: number },
): Promise<void> {
  await withStorage(ctx, async (storage) => {
    const objects = await requireObjects(storage, db, { signal: ctx.signal });
    const engine = engineOf(await describeObjects(storage, objects.slice(-1), { signal: ctx.signal, epochs: false }));
    if (engine === 'sqlite') {
      const seq = await followSqlite(storage, db, path, ctx.io, { intervalMs: opts.intervalMs, signal: ctx.signal });
      ctx.io.err(`${db}: stopped following at seq ${seq}`);
      return;
    }
    if (engine !== 'duckblock')
      throw new CliError(
        'HADB_CLI_DATABASE',
        `${db} is a ${engine} database; hadb follow supports DuckDB (duckblock) and SQLite (walstream) databases`,
      );
    let last: bigint | null = null;
    while (!ctx.signal.aborted) {
      try {
        const result = await pullIncremental(storage, '', db, path, { signal: ctx.signal, concurrency: opts.parallel });
        const seq = result.position?.seq ?? null;
        if (seq !== last) {
          ctx.io.out(
            `${db}: at seq ${seq ?? '-'}${result.restored ? ' (restored a snapshot)' : ''}${result.applied > 0 ? `, applied ${result.applied} segments` : ''}`,
          );
          last = seq;
        }
      } catch (error) {
        if (ctx.signal.aborted) break;
        throw error;
      }
      await sleepUnlessAborted(systemClock, opts.intervalMs, ctx.signal);
    }
    ctx.io.err(`${db}: stopped following at seq ${last ?? '-'}`);
  });
}
