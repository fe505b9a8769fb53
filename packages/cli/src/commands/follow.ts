import { pullIncremental } from '@hadb/duckblock';
import { sleepUnlessAborted, systemClock } from '@hadb/io';
import { withStorage, type Context } from '../context.js';
import { describeObjects, engineOf, requireObjects } from '../catalog.js';
import { CliError } from '../errors.js';

/**
 * `hadb follow <db> <path>`: keeps a DuckDB read replica at `path` restored continuously (the
 * latest snapshot, then every new segment, verified as applied) until SIGINT/SIGTERM. The
 * replica's position is kept beside it (`<path>.hadb-position`), so a restart resumes.
 */
export async function follow(ctx: Context, db: string, path: string, opts: { intervalMs: number; parallel: number }): Promise<void> {
  await withStorage(ctx, async (storage) => {
    const objects = await requireObjects(storage, db, { signal: ctx.signal });
    const engine = engineOf(await describeObjects(storage, objects.slice(-1), { signal: ctx.signal, epochs: false }));
    if (engine !== 'duckblock') throw new CliError('HADB_CLI_DATABASE', `${db} is a ${engine} database; hadb follow supports DuckDB (duckblock) databases`);
    let last: bigint | null = null;
    while (!ctx.signal.aborted) {
      try {
        const result = await pullIncremental(storage, '', db, path, { signal: ctx.signal, concurrency: opts.parallel });
        const seq = result.position?.seq ?? null;
        if (seq !== last) {
          ctx.io.out(`${db}: at seq ${seq ?? '-'}${result.restored ? ' (restored a snapshot)' : ''}${result.applied > 0 ? `, applied ${result.applied} segments` : ''}`);
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
