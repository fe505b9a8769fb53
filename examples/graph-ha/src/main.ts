// graph-ha: `demo` (the default) runs a leader and a follower on in-memory storage and compares
// their answers; `insert` and `query` work on a journal kept in GRAPH_HA_STORAGE. `--help` explains.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStorageBackend } from '@hadb/storage-local';
import { MemStorageBackend } from '@hadb/storage-mem';
import { USAGE, UsageError, parseCommand, runOneShot } from './cli.js';
import { QUERIES, runDemo } from './demo.js';

const argv = process.argv.slice(2);

async function main(): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  const { command, storageDir } = parseCommand(argv, process.env);
  if (command.kind !== 'demo') {
    const storage = await LocalStorageBackend.open({ root: storageDir! });
    try {
      const rows = await runOneShot(storage, command);
      process.stdout.write(
        `${JSON.stringify({ event: command.kind === 'insert' ? 'inserted' : 'rows', rows }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`,
      );
    } finally {
      await storage.close();
    }
    return;
  }
  const work = await mkdtemp(join(tmpdir(), 'graph-ha-'));
  try {
    const { leader, follower, applied } = await runDemo(new MemStorageBackend(), work);
    console.log(`follower replayed ${applied} journal entries`);
    QUERIES.forEach((q, i) => {
      console.log(`\n${q}\n  leader:   ${JSON.stringify(leader[i])}\n  follower: ${JSON.stringify(follower[i])}`);
    });
    console.log(JSON.stringify(leader) === JSON.stringify(follower) ? '\nleader and follower agree' : '\nMISMATCH');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  const message =
    error instanceof Error
      ? `${(error as { code?: string }).code ? `${(error as { code?: string }).code}: ` : ''}${error.message}`
      : String(error);
  process.stderr.write(`graph-ha: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exitCode = error instanceof UsageError ? 2 : 1;
}
