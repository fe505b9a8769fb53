// A haduck node that writes rows continuously. Run it first: it becomes the leader. Every line on
// stdout is one JSON event (see ../README.md).
import { HaDuck } from '@hadb/haduck';
import { loadConfig } from './config.js';
import { log } from './log.js';
import { startRowWriter, type RowWriter } from './writer.js';

const config = await loadConfig(process.argv.slice(2), process.env, { writeRate: 20 });
const db = await HaDuck.open(config.haduck);
log('role', { role: db.role, instance: config.haduck.instanceId, address: db.address });
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

writer = await startRowWriter(db, { writer: config.writer, rate: config.writeRate, durability: config.durability }, () => stopping);
