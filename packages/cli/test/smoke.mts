import { LocalStorageBackend } from '@hadb/storage-local';
import { tempDir, writeDuckDatabase } from './fixtures.js';
const { dir } = await tempDir('smoke');
const storage = await LocalStorageBackend.open({ root: `${dir}/bucket` });
const steps = await writeDuckDatabase(storage, dir, 'app', { rounds: 5, snapshotsAfter: [3] });
console.log(dir, steps);
await storage.close();
