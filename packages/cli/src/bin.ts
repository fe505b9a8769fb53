#!/usr/bin/env node
import { run } from './main.js';

const controller = new AbortController();
let signals = 0;
for (const name of ['SIGINT', 'SIGTERM'] as const) {
  process.on(name, () => {
    signals++;
    // A second signal exits at once; the first lets the command finish cleanly.
    if (signals > 1) process.exit(130);
    controller.abort(new Error(`received ${name}`));
  });
}

process.exitCode = await run(process.argv.slice(2), { signal: controller.signal });
