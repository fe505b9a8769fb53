import { describeObjects, engineOf, requireObjects } from '../catalog.js';
import { withStorage, type Context } from '../context.js';
import { CliError } from '../errors.js';
import { EXIT, exitCodeOf } from '../exit-codes.js';
import { commandEvents, type CommandEvents } from '../events.js';
import { formatBytes, formatTime, toJson } from '../output.js';
import { byteProgress } from '../progress.js';
import { pathExists, restoreDuckblock, type RestoreTarget } from '../restore-duck.js';
import { restoreSqlite } from '../sqlite.js';

/** Options of `hadb restore`. */
export interface RestoreFlags {
  readonly seq?: string | undefined;
  readonly time?: string | undefined;
  readonly ifNotExists?: boolean | undefined;
  readonly parallel: number;
  readonly rangedReads: number;
  readonly integrityCheck?: string | undefined;
  readonly json?: boolean | undefined;
}

/** Parses `--seq`/`--time` into a target. */
export function restoreTarget(flags: RestoreFlags): RestoreTarget {
  if (flags.seq !== undefined && flags.time !== undefined)
    throw new CliError('HADB_CLI_USAGE', 'give --seq or --time, not both');
  if (flags.seq !== undefined) {
    if (!/^\d+$/.test(flags.seq))
      throw new CliError('HADB_CLI_USAGE', `--seq must be a non-negative integer, got "${flags.seq}"`);
    return { kind: 'seq', seq: BigInt(flags.seq) };
  }
  if (flags.time !== undefined) {
    // ISO 8601 with a date and time; without an offset it is read as UTC.
    const m = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(flags.time);
    const ms =
      m === null
        ? Number.NaN
        : Date.parse(m[1] === undefined ? `${flags.time.replace(' ', 'T')}Z` : flags.time.replace(' ', 'T'));
    if (Number.isNaN(ms))
      throw new CliError('HADB_CLI_USAGE', `--time must be ISO 8601, e.g. 2026-12-04T21:30:00Z; got "${flags.time}"`);
    return { kind: 'time', ms };
  }
  return { kind: 'latest' };
}

/** `hadb restore <db> <path>`: a point-in-time restore into a new file. */
export async function restore(ctx: Context, db: string, path: string, flags: RestoreFlags): Promise<void> {
  const target = restoreTarget(flags);
  const events = commandEvents(ctx);
  const integrity = flags.integrityCheck;
  if (integrity !== undefined && integrity !== 'quick' && integrity !== 'full' && integrity !== 'none') {
    throw new CliError('HADB_CLI_USAGE', `--integrity-check must be quick, full or none, got "${integrity}"`);
  }
  // Past the usage checks every failure is a failed restore: reported as `restore_failed`.
  await events.failures(db, { command: 'restore', path }, () => restoreInto(ctx, events, db, path, target, flags));
}

async function restoreInto(
  ctx: Context,
  events: CommandEvents,
  db: string,
  path: string,
  target: RestoreTarget,
  flags: RestoreFlags,
): Promise<void> {
  const integrity = flags.integrityCheck;
  if (await pathExists(path)) {
    if (flags.ifNotExists === true) {
      ctx.io.err(`${path} exists; nothing restored (--if-not-exists)`);
      return;
    }
    throw new CliError('HADB_CLI_RESTORE', `${path} already exists; remove it or pass --if-not-exists`);
  }
  await withStorage(ctx, async (storage) => {
    const objects = await requireObjects(storage, db, { signal: ctx.signal });
    const details = await describeObjects(storage, objects, { signal: ctx.signal, epochs: false });
    const engine = engineOf(details);
    if (engine !== 'duckblock' && engine !== 'sqlite') {
      throw new CliError(
        'HADB_CLI_DATABASE',
        `${db} is a ${engine} database; hadb restore supports DuckDB (duckblock) and SQLite (walstream) databases`,
      );
    }
    if (engine === 'duckblock' && integrity !== undefined && integrity !== 'none') {
      throw new CliError(
        'HADB_CLI_USAGE',
        `--integrity-check applies to SQLite databases; ${db} is DuckDB (every block is checksum-verified as it is restored)`,
      );
    }
    const started = Date.now();
    const bar = byteProgress(ctx.io, 'restore', 0, ctx.progress);
    let result;
    try {
      const options = {
        parallel: flags.parallel,
        rangedReads: flags.rangedReads,
        signal: ctx.signal,
        onTotal: (n: number) => bar.setTotal(n),
        onBytes: (n: number) => bar.add(n),
      };
      result =
        engine === 'duckblock'
          ? await restoreDuckblock(storage, db, details, path, target, options)
          : await restoreSqlite(storage, db, details, path, target, {
              ...options,
              integrity: (integrity ?? 'quick') as 'quick' | 'full' | 'none',
            });
    } catch (error) {
      // Failures without a more specific class are restore failures.
      if (exitCodeOf(error) === EXIT.GENERAL && !ctx.signal.aborted) {
        throw new CliError('HADB_CLI_RESTORE', `restore failed: ${(error as Error).message ?? String(error)}`, {
          cause: error,
        });
      }
      throw error;
    } finally {
      bar.stop();
    }
    const secs = (Date.now() - started) / 1000;
    if (flags.json === true) {
      ctx.io.out(toJson({ database: db, engine, path, ...result, seconds: secs }));
    } else {
      ctx.io.out(
        `restored ${db} to seq ${result.seq} (written ${formatTime(result.createdMs)}) into ${path}: snapshot ${result.snapshotSeq} + ${result.segments} ${engine === 'sqlite' ? 'incrementals' : 'segments'}, ${formatBytes(result.bytes)} in ${secs.toFixed(1)} s (${(result.bytes / 1e6 / Math.max(secs, 0.001)).toFixed(1)} MB/s)`,
      );
    }
    // The restore is done and reported above; a webhook failure only warns.
    await events.restored(db, {
      command: 'restore',
      engine,
      path,
      seq: result.seq,
      snapshotSeq: result.snapshotSeq,
      segments: result.segments,
      bytes: result.bytes,
      seconds: secs,
    });
  });
}
