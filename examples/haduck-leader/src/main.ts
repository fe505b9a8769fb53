// A haduck node that writes rows continuously (`run`, the default). Run it first: it becomes the
// leader. `insert` and `query` do one thing on the storage you name and exit. Every line on stdout
// is one JSON event (see ../README.md); `--help` lists the commands and settings.
import { handleShutdown, runExampleNode } from './node.js';
import { startRowWriter, type RowWriter } from './writer.js';

await runExampleNode(
  'haduck-leader',
  'write demo rows continuously until SIGTERM or SIGINT',
  { writeRate: 20 },
  async (db, config) => {
    let writer: RowWriter | undefined;
    const stopping = handleShutdown(db, config, async () => {
      await writer?.stop();
    });
    writer = await startRowWriter(
      db,
      { writer: config.writer, rate: config.writeRate, durability: config.durability },
      stopping,
    );
  },
);
