// A haduck node that writes rows continuously (`run`, the default). Run it first: it becomes the
// leader. `insert` and `query` do one thing on the storage you name and exit. Every line on stdout
// is one JSON event (see ../README.md); `--help` lists the commands and settings.
import { HaDuck } from '@hadb/haduck';
import { runCli, usage } from './cli.js';
import { parseCommand, runOneShot } from './commands.js';
import { loadConfig } from './config.js';
import { log } from './log.js';
import { readCommandLine } from './settings.js';
import { startRowWriter, type RowWriter } from './writer.js';

const program = 'haduck-leader';
const argv = process.argv.slice(2);

await runCli(program, argv, usage(program, 'write demo rows continuously until SIGTERM or SIGINT'), async () => {
  const line = readCommandLine(argv, process.env);
  const command = parseCommand(line);
  const config = await loadConfig(line.settings, process.env, { writeRate: 20 });
  let db: HaDuck;
  try {
    db = await HaDuck.open(config.haduck);
  } catch (err) {
    await config.close();
    throw config.explain(err);
  }
  log('role', { role: db.role, instance: config.haduck.instanceId, address: db.address });
  if (command.kind !== 'run') {
    try {
      await runOneShot(db, command);
    } finally {
      await db.close();
      await config.close();
    }
    return;
  }

  db.on('promoted', () => log('promoted', { instance: config.haduck.instanceId }));
  db.on('demoted', () => log('demoted', { instance: config.haduck.instanceId }));
  db.on('error', (err) => log('error', { message: err.message }));

  const stats = setInterval(() => log('stats', { ...db.stats() }), 1000);
  let writer: RowWriter | undefined;
  let stopping = false;

  async function shutdown(): Promise<void> {
    if (stopping) return;
    stopping = true;
    clearInterval(stats);
    // A close that cannot finish (no storage, no lease server) must not keep the process alive.
    setTimeout(() => {
      log('error', { message: 'shutdown took longer than 30 s' });
      process.exit(1);
    }, 30_000).unref();
    await writer?.stop();
    await db.close();
    log('stats', { ...db.stats() });
    log('closed', {});
    await config.close();
    process.exit(0);
  }
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());

  writer = await startRowWriter(
    db,
    { writer: config.writer, rate: config.writeRate, durability: config.durability },
    () => stopping,
  );
});
