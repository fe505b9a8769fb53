// What both example programs do around their `run` loop: parse the command line, open the node,
// run a one-shot command (`insert`, `query`) and exit, or hand the node to `run` with a shutdown
// that stops the writer, closes the node and exits on SIGTERM/SIGINT.
import { HaDuck } from '@hadb/haduck';
import { runCli, usage } from './cli.js';
import { parseCommand, runOneShot } from './commands.js';
import { loadConfig, type ExampleConfig } from './config.js';
import { log } from './log.js';
import { readCommandLine } from './settings.js';

/** Runs an example program: `run(db, config)` for the `run` command, the one-shot commands otherwise. */
export async function runExampleNode(
  program: string,
  runDoes: string,
  defaults: { readonly writeRate: number },
  run: (db: HaDuck, config: ExampleConfig) => void | Promise<void>,
): Promise<void> {
  const argv = process.argv.slice(2);
  await runCli(program, argv, usage(program, runDoes), async () => {
    const line = readCommandLine(argv, process.env);
    const command = parseCommand(line);
    const config = await loadConfig(line.settings, process.env, defaults);
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
    await run(db, config);
  });
}

/**
 * Logs `stats` every second and, on SIGTERM/SIGINT, runs `stop` (the program's own loops), closes
 * the node and the config's resources, logs the final `stats` and `closed`, and exits 0. A close
 * that cannot finish within 30 s (no storage, no lease server) exits 1. Returns `stopping()`.
 */
export function handleShutdown(db: HaDuck, config: ExampleConfig, stop: () => Promise<void>): () => boolean {
  const stats = setInterval(() => log('stats', { ...db.stats() }), 1000);
  let stopping = false;
  async function shutdown(): Promise<void> {
    if (stopping) return;
    stopping = true;
    clearInterval(stats);
    setTimeout(() => {
      log('error', { message: 'shutdown took longer than 30 s' });
      process.exit(1);
    }, 30_000).unref();
    await stop();
    await db.close();
    log('stats', { ...db.stats() });
    log('closed', {});
    await config.close();
    process.exit(0);
  }
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
  return () => stopping;
}
