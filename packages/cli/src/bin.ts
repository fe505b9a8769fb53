#!/usr/bin/env node
import { run } from './main.js';

// The AWS SDK warns on every run under Node 20 about its support plans; not actionable for a
// command-line user, and it would break the one-line error output. Its documented switch:
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

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
