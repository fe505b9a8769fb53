// Child process of the bench: streams one snapshot of a database file into a storage-local
// bucket and prints its peak RSS, so the measurement covers exactly one snapshot upload.
// argv: dbPath bucketDir [mode]; mode "baseline" only loads the modules.
import { open, readFile } from 'node:fs/promises';
import { LocalStorageBackend } from '@hadb/storage-local';
import { uploadSnapshot } from '../src/index.js';

const [dbPath, bucket, mode] = process.argv.slice(2) as [string, string, string | undefined];
const storage = await LocalStorageBackend.open({ root: bucket, fsync: false });
let bytes = 0;
const t0 = performance.now();
if (mode !== 'baseline') {
  const handle = await open(dbPath, 'r');
  const up = await uploadSnapshot(storage, 'rss/0001/0000000000000001.hadbp', handle, {
    seq: 1n,
    anchor: 1n,
    epoch: 1n,
  });
  bytes = up.bytes;
  await handle.close();
}
const ms = performance.now() - t0;
await storage.close();
// VmHWM is the peak RSS of this process image (getrusage's maxrss is inherited from the parent
// across fork on Linux, so it would report the bench process's peak instead).
const status = await readFile('/proc/self/status', 'utf8');
const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
process.stdout.write(`${JSON.stringify({ maxRssKiB: hwm === null ? -1 : Number(hwm[1]), bytes, ms })}\n`);
