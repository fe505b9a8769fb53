// A haduck node that writes rows continuously. Run it first: it becomes the leader. Every line on
// stdout is one JSON event (see ../README.md).
import { HaDuck } from '@hadb/haduck';
import { loadConfig } from './config.js';
import { log } from './log.js';
import { CREATE_TABLE, RowWriter } from './writer.js';

const config = await loadConfig(process.argv.slice(2), process.env, { writeRate: 20 });
const db = await HaDuck.open(config.haduck);
log('role', { role: db.role, instance: config.haduck.instanceId, address: db.address });
db.on('promoted', () => log('promoted', { instance: config.haduck.instanceId }));
db.on('demoted', () => log('demoted', { instance: config.haduck.instanceId }));
db.on('error', (err) => log('error', { message: err.message }));

await db.execute(CREATE_TABLE);
const last = await db.query('SELECT coalesce(max(seq), 0) FROM demo_rows WHERE writer = $1', [config.writer], { consistency: 'strong' });
const writer = new RowWriter(db, {
  writer: config.writer,
  rate: config.writeRate,
  durability: config.durability,
  startSeq: Number(last.rows[0]?.[0] ?? 0) + 1,
});
if (config.writeRate > 0) writer.start();
log('writing', { writer: config.writer, rate: config.writeRate, durability: config.durability });

const stats = setInterval(() => log('stats', { ...db.stats() }), 1000);

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(stats);
  await writer.stop();
  await db.close();
  log('stats', { ...db.stats() });
  log('closed', {});
  await config.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
