import { pullIncremental } from '@hadb/duckblock';
import { sleepUnlessAborted, systemClock } from '@hadb/io';
import { withStorage, type Context } from '../context.js';
import { describeObjects, engineOf, requireObjects } from '../catalog.js';
import { CliError } from '../errors.js';
import { commandEvents, type CommandEvents, type RestoredReport } from '../events.js';
import { followSqlite } from '../sqlite.js';

/**
 * `hadb follow <db> <path>`: keeps a read replica at `path` restored continuously (the latest
 * snapshot, then every new segment or incremental, verified as applied) until SIGINT/SIGTERM.
 * DuckDB replicas go through duckblock, SQLite replicas through walstream's `Follower` (readers
 * may keep the file open). The position is kept beside the replica, so a restart resumes.
 *
 * With the config file's `admin.webhooks` it sends `restore_completed` once, when the initial
 * restore and catch-up are done, and `restore_failed` when following ends with an error.
 */
export async function follow(
  ctx: Context,
  db: string,
  path: string,
  opts: { intervalMs: number; parallel: number },
): Promise<void> {
  const events = commandEvents(ctx);
  await events.failures(db, { command: 'follow', path }, () => followInto(ctx, events, db, path, opts));
}

async function followInto(
  ctx: Context,
  events: CommandEvents,
  db: string,
  path: string,
  opts: { intervalMs: number; parallel: number },
): Promise<void> {
  const started = Date.now();
  // Sent once the replica first caught up, without holding up the polls behind it.
  let delivery: Promise<void> | undefined;
  const caughtUp = (report: Omit<RestoredReport, 'command' | 'path' | 'seconds'>): void => {
    delivery ??= events.restored(db, { command: 'follow', path, ...report, seconds: (Date.now() - started) / 1000 });
  };
  try {
    await withStorage(ctx, async (storage) => {
      const objects = await requireObjects(storage, db, { signal: ctx.signal });
      const engine = engineOf(await describeObjects(storage, objects.slice(-1), { signal: ctx.signal, epochs: false }));
      if (engine === 'sqlite') {
        const seq = await followSqlite(storage, db, path, ctx.io, {
          intervalMs: opts.intervalMs,
          signal: ctx.signal,
          onCaughtUp: (seq, restored) => caughtUp({ engine, seq, restored }),
        });
        ctx.io.err(`${db}: stopped following at seq ${seq}`);
        return;
      }
      if (engine !== 'duckblock')
        throw new CliError(
          'HADB_CLI_DATABASE',
          `${db} is a ${engine} database; hadb follow supports DuckDB (duckblock) and SQLite (walstream) databases`,
        );
      let last: bigint | null = null;
      let restored = false;
      let segments = 0;
      let bytes = 0;
      while (!ctx.signal.aborted) {
        try {
          const result = await pullIncremental(storage, '', db, path, {
            signal: ctx.signal,
            concurrency: opts.parallel,
          });
          const seq = result.position?.seq ?? null;
          if (seq !== last) {
            ctx.io.out(
              `${db}: at seq ${seq ?? '-'}${result.restored ? ' (restored a snapshot)' : ''}${result.applied > 0 ? `, applied ${result.applied} segments` : ''}`,
            );
            last = seq;
          }
          restored ||= result.restored;
          segments += result.applied;
          bytes += result.bytes;
          // The first pull applies everything stored; an empty store has nothing to report yet.
          if (seq !== null) caughtUp({ engine, seq, restored, segments, bytes });
        } catch (error) {
          if (ctx.signal.aborted) break;
          throw error;
        }
        await sleepUnlessAborted(systemClock, opts.intervalMs, ctx.signal);
      }
      ctx.io.err(`${db}: stopped following at seq ${last ?? '-'}`);
    });
  } finally {
    await delivery;
  }
}
