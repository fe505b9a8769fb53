import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { param } from '@hadb/graphstream';
import type { StorageBackend } from '@hadb/storage';
import { GraphFollower } from './follower.js';
import { GraphLeader } from './leader.js';

export const USAGE = `usage: graph-ha [demo]                 leader and follower on in-memory storage: write, replay, compare
       graph-ha insert <name> <age>    add or update the person (name, age) and ship the journal entry
       graph-ha query [<cypher>]       replay the journal and print the rows of <cypher>
                                       (default: MATCH (p:Person) RETURN p.name AS name, p.age AS age ORDER BY name)
       graph-ha --help

insert and query need storage that outlives the process: GRAPH_HA_STORAGE=local:<dir> (a directory
shared by every run). Each run replays the whole journal from there into an in-memory graph; insert
then continues the journal as its writer (one writer at a time). Rows are printed as JSON; errors
are one line on stderr.
`;

/** A mistake in what the user typed or set; exit status 2. */
export class UsageError extends Error {}

const DEFAULT_QUERY = 'MATCH (p:Person) RETURN p.name AS name, p.age AS age ORDER BY name';
const SCHEMA = 'CREATE NODE TABLE IF NOT EXISTS Person(name STRING, age INT64, PRIMARY KEY(name))';

export type Command =
  | { kind: 'demo' }
  | { kind: 'insert'; name: string; age: number }
  | { kind: 'query'; cypher: string };

/** Checks the command line and GRAPH_HA_STORAGE before anything is opened. */
export function parseCommand(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): { command: Command; storageDir?: string } {
  const unknown = argv.find((a) => a.startsWith('-'));
  if (unknown !== undefined) throw new UsageError(`unknown option ${unknown} (see --help)`);
  const [name = 'demo', ...args] = argv;
  if (name === 'demo') {
    if (args.length > 0) throw new UsageError('demo takes no arguments');
    return { command: { kind: 'demo' } };
  }
  if (name !== 'insert' && name !== 'query')
    throw new UsageError(`unknown command ${name}: use demo, insert or query (see --help)`);
  const spec = env.GRAPH_HA_STORAGE;
  if (spec === undefined || spec === '')
    throw new UsageError(`${name} needs storage that outlives this process: set GRAPH_HA_STORAGE=local:<dir>`);
  if (!spec.startsWith('local:') || spec.length === 'local:'.length)
    throw new UsageError(`GRAPH_HA_STORAGE=${spec}: must be local:<dir>`);
  const storageDir = spec.slice('local:'.length);
  if (name === 'insert') {
    if (args.length !== 2) throw new UsageError('insert takes two arguments: <name> <age>, e.g. insert Ada 36');
    if (!/^\d{1,3}$/.test(args[1]!)) throw new UsageError(`insert: age ${args[1]} must be a whole number below 1000`);
    return { command: { kind: 'insert', name: args[0]!, age: Number(args[1]) }, storageDir };
  }
  if (args.length > 1) throw new UsageError('query takes at most one argument: the Cypher, quoted');
  return { command: { kind: 'query', cypher: args[0] ?? DEFAULT_QUERY }, storageDir };
}

/**
 * Runs `insert` or `query` against the journal in `storage`: replays it into an in-memory graph
 * in a temporary directory (removed before returning), then writes or reads. Returns the rows.
 */
export async function runOneShot(
  storage: StorageBackend,
  command: Exclude<Command, { kind: 'demo' }>,
): Promise<Record<string, unknown>[]> {
  const work = await mkdtemp(join(tmpdir(), 'graph-ha-'));
  const journal = { storage, prefix: 'graphs/', db: 'social', dir: join(work, 'journal') };
  try {
    const follower = await GraphFollower.open(':memory:', journal);
    await follower.catchUp();
    if (command.kind === 'query') {
      try {
        return await follower.read(command.cypher);
      } finally {
        await follower.close();
      }
    }
    const leader = await GraphLeader.promote(follower, {
      ...journal,
      fsyncMs: 5,
      uploadIntervalMs: 0,
      compactionThreshold: 0,
    });
    try {
      await leader.write(SCHEMA);
      await leader.write('MERGE (p:Person {name: $name}) SET p.age = $age', [
        ['name', param.string(command.name)],
        ['age', param.int(command.age)],
      ]);
      await leader.sync();
      return await leader.read('MATCH (p:Person {name: $name}) RETURN p.name AS name, p.age AS age', [
        ['name', param.string(command.name)],
      ]);
    } finally {
      await leader.close();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
