import type { HaDuck } from '@hadb/haduck';
import { UsageError } from './cli.js';
import { log } from './log.js';
import type { CommandLine } from './settings.js';

/** The table of the `insert` and `query` commands. */
export const NOTES_TABLE = 'CREATE TABLE IF NOT EXISTS notes (id BIGINT, body VARCHAR)';
const DEFAULT_QUERY = 'SELECT id, body FROM notes ORDER BY id';

/** A parsed command: `run` (the program's loop) or a one-shot `insert` / `query`. */
export type Command =
  | { readonly kind: 'run' }
  | { readonly kind: 'insert'; readonly id: bigint; readonly body: string }
  | { readonly kind: 'query'; readonly sql: string };

/** Checks the command and its arguments before anything is opened. */
export function parseCommand(line: CommandLine): Command {
  const [name = 'run', ...args] = line.positionals;
  switch (name) {
    case 'run':
      if (args.length > 0) throw new UsageError(`run takes no arguments (got ${args.join(' ')})`);
      return { kind: 'run' };
    case 'insert': {
      if (args.length !== 2) throw new UsageError('insert takes two arguments: <id> <text>, e.g. insert 1 hello');
      if (!/^-?\d{1,18}$/.test(args[0]!)) throw new UsageError(`insert: id ${args[0]} must be an integer`);
      needsStorage(line, 'insert');
      return { kind: 'insert', id: BigInt(args[0]!), body: args[1]! };
    }
    case 'query':
      if (args.length > 1) throw new UsageError('query takes at most one argument: the SQL, quoted');
      needsStorage(line, 'query');
      return { kind: 'query', sql: args[0] ?? DEFAULT_QUERY };
    default:
      throw new UsageError(`unknown command ${name}: use run, insert or query (see --help)`);
  }
}

function needsStorage(line: CommandLine, command: string): void {
  if (line.settings.storage === undefined) {
    throw new UsageError(
      `${command} needs storage that outlives this process: set HADUCK_STORAGE=local:<dir> or s3:<bucket> (or --storage)`,
    );
  }
}

/**
 * Runs a one-shot command on an open node: `insert` writes the row (forwarded to the leader when
 * this node follows) and waits until it is in storage; `query` reads from this node's copy once it
 * has applied everything durable. Prints one JSON event.
 */
export async function runOneShot(db: HaDuck, command: Exclude<Command, { kind: 'run' }>): Promise<void> {
  if (command.kind === 'insert') {
    await db.execute(NOTES_TABLE, [], { durability: 'shipped' });
    await db.execute('INSERT INTO notes VALUES ($1, $2)', [command.id, command.body], { durability: 'shipped' });
    log('inserted', { id: command.id, body: command.body, role: db.role });
    return;
  }
  await db.sync();
  const { columns, rows } = await db.query(command.sql);
  log('rows', { columns, rows, role: db.role });
}
