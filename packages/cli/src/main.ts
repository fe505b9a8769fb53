import { isHadbError } from '@hadb/io';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { compact } from './commands/compact.js';
import { explain } from './commands/explain.js';
import { follow } from './commands/follow.js';
import { leaseRelease, leaseShow } from './commands/lease.js';
import { ls } from './commands/ls.js';
import { replicate } from './commands/replicate.js';
import { restore } from './commands/restore.js';
import { snapshot } from './commands/snapshot.js';
import { status } from './commands/status.js';
import { verify } from './commands/verify.js';
import { resolveSettings, type GlobalFlags } from './config.js';
import type { Context } from './context.js';
import { EXIT, exitCodeOf, type ExitCode } from './exit-codes.js';
import { processIo, type Io } from './output.js';
import { VERSION } from './version.js';

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
}

function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a non-negative integer');
  return Number(value);
}

/** One line, never a stack or a secret-bearing cause chain. */
function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]!.trim() || 'unknown error';
}

/**
 * Runs the `hadb` command line with `argv` (without the node and script entries) and returns the
 * exit code. Errors are printed as one line on stderr: `hadb: <message>`.
 */
export async function run(
  argv: readonly string[],
  options: { io?: Io; env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {},
): Promise<ExitCode> {
  const io = options.io ?? processIo;
  const env = options.env ?? process.env;
  const signal = options.signal ?? new AbortController().signal;
  const program = new Command('hadb');
  let code: ExitCode = EXIT.OK;

  program
    .description('Inspect, verify, restore and compact hadb replicas in object storage; replicate SQLite as a sidecar')
    .version(VERSION, '-V, --version')
    .option('-s, --storage <url>', 'storage URL: file:///dir or s3://bucket/prefix?endpoint=… (env HADB_STORAGE)')
    .option('-l, --lease <url>', 'lease store: storage (default), nats://host:4222, etcd://host:2379 (env HADB_LEASE)')
    .option('-c, --config <file>', 'YAML config file (env HADB_CONFIG)')
    .option(
      '--age-identity <file|key>',
      'age identity for encrypted storage, repeatable (env HADB_AGE_IDENTITY_FILE)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--no-progress', 'never draw progress bars')
    .configureOutput({
      writeOut: (s) => io.out(s.trimEnd()),
      writeErr: (s) => io.err(s.trimEnd()),
      // Usage errors as one line, like every other error.
      outputError: (s, write) => write(`hadb: ${s.trim().replace(/^error: /, '')} (hadb --help for usage)`),
    })
    .exitOverride();

  const context = async (): Promise<Context> => {
    const flags = program.opts<GlobalFlags & { progress: boolean }>();
    const settings = await resolveSettings(flags, env);
    return { settings, io, signal, progress: flags.progress };
  };
  const action =
    <A extends unknown[]>(fn: (ctx: Context, ...args: A) => Promise<void>) =>
    async (...args: A): Promise<void> => {
      await fn(await context(), ...args);
    };

  program
    .command('ls')
    .description('list the databases in storage, or one database’s snapshots and segments (seq, size, epoch, time)')
    .argument('[db]', 'database name')
    .option('--json', 'machine-readable output')
    .action(action((ctx, db: string | undefined, opts: { json?: boolean }) => ls(ctx, db, opts)));

  program
    .command('verify')
    .description('check checksums, chain links and gaps of everything stored for a database (exit 5 on a failure)')
    .argument('<db>', 'database name')
    .option('--json', 'machine-readable output')
    .addOption(new Option('--parallel <n>', 'objects verified at once').argParser(positiveInt).default(4))
    .action(action((ctx, db: string, opts: { json?: boolean; parallel: number }) => verify(ctx, db, opts)));

  program
    .command('restore')
    .description('restore a DuckDB or SQLite database into a new file, to the newest state, a seq or a time')
    .argument('<db>', 'database name')
    .argument('<path>', 'file to create')
    .option('--seq <n>', 'restore exactly this seq')
    .option(
      '--time <iso8601>',
      'restore the newest state written at or before this time (UTC unless an offset is given)',
    )
    .option('--if-not-exists', 'do nothing (exit 0) when <path> exists')
    .option('--integrity-check <level>', 'SQLite: quick (default), full or none, run before the file is installed')
    .addOption(
      new Option('--parallel <n>', 'segments downloaded ahead of the one being applied')
        .argParser(positiveInt)
        .default(4),
    )
    .addOption(
      new Option(
        '--ranged-reads <n>',
        'ranged reads in flight for one large object; raise it where one connection is slower than the network (AWS S3)',
      )
        .argParser(positiveInt)
        .default(1),
    )
    .option('--json', 'machine-readable result')
    .action(action((ctx, db: string, path: string, opts) => restore(ctx, db, path, opts)));

  program
    .command('follow')
    .description('keep a DuckDB or SQLite read replica restored continuously until SIGINT/SIGTERM')
    .argument('<db>', 'database name')
    .argument('<path>', 'replica file')
    .addOption(new Option('--interval <ms>', 'poll interval').argParser(positiveInt).default(1000))
    .addOption(new Option('--parallel <n>', 'downloads in flight').argParser(positiveInt).default(4))
    .action(
      action((ctx, db: string, path: string, opts: { interval: number; parallel: number }) =>
        follow(ctx, db, path, { intervalMs: opts.interval, parallel: opts.parallel }),
      ),
    );

  program
    .command('replicate')
    .description('run the replication daemon for the SQLite databases of the config file (SIGTERM: final sync, exit 0)')
    .option(
      '--admin <host:port>',
      'serve /metrics, /health, /ready, /status and a status page (env HADB_ADMIN; token from env HADB_ADMIN_TOKEN)',
    )
    .action(action((ctx, opts: { admin?: string }) => replicate(ctx, opts)));

  program
    .command('snapshot')
    .description('store a full snapshot of a SQLite database file now')
    .argument('<db-file>', 'SQLite database file')
    .option('--name <name>', 'database name in storage (default: the file name)')
    .option('--json', 'machine-readable output')
    .action(action((ctx, file: string, opts: { name?: string; json?: boolean }) => snapshot(ctx, file, opts)));

  program
    .command('compact')
    .description('grandfather-father-son retention of snapshots and segments (dry run unless --force)')
    .argument('<db>', 'database name')
    .addOption(new Option('--hourly <n>', 'hourly snapshots to keep').argParser(nonNegativeInt))
    .addOption(new Option('--daily <n>', 'daily snapshots to keep').argParser(nonNegativeInt))
    .addOption(new Option('--weekly <n>', 'weekly snapshots to keep').argParser(nonNegativeInt))
    .addOption(new Option('--monthly <n>', 'monthly snapshots to keep').argParser(nonNegativeInt))
    .option('--force', 'delete (without it, only print the plan)')
    .option('--json', 'machine-readable output')
    .action(action((ctx, db: string, opts) => compact(ctx, db, opts)));

  const lease = program.command('lease').description('show or release the lease of a database');
  lease
    .command('show')
    .argument('<db>', 'database name')
    .option('--json', 'machine-readable output')
    .action(action((ctx, db: string, opts: { json?: boolean }) => leaseShow(ctx, db, opts)));
  lease
    .command('release')
    .argument('<db>', 'database name')
    .option('--force', 'also release a live lease (its holder is fenced at its next renewal)')
    .action(action((ctx, db: string, opts: { force?: boolean }) => leaseRelease(ctx, db, opts)));

  program
    .command('status')
    .description('lease holder, durable head and every registered node (role, position, lag, heartbeat)')
    .argument('<db>', 'database name')
    .option('--json', 'machine-readable output')
    .action(action((ctx, db: string, opts: { json?: boolean }) => status(ctx, db, opts)));

  program
    .command('explain')
    .description('print the resolved configuration and where it came from (secrets masked)')
    .option('--json', 'machine-readable output')
    .action(action((ctx, opts: { json?: boolean }) => explain(ctx, opts)));

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    code = exitCodeOf(error);
    if (error instanceof CommanderError) return code; // commander printed the message
    if (signal.aborted) {
      io.err('hadb: interrupted');
      return EXIT.GENERAL;
    }
    const hint = isHadbError(error, 'HADB_STORAGE_AUTH') ? ' (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)' : '';
    io.err(`hadb: ${oneLine(error)}${hint}`);
    if (env.HADB_DEBUG === '1' && error instanceof Error) io.err(error.stack ?? '');
  }
  return code;
}
