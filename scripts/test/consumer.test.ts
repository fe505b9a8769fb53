import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testService } from '../../packages/testkit/src/services.js';
import { cleanEnv, root } from './workspace.js';

// The plain-npm consumer's walk (scripts/consumer-check.mjs): build, check what every tarball
// ships, pack, npm install into a scratch project, run every README's ```js example verbatim
// against the real servers.
const available = (['s3', 'nats', 'etcd'] as const).map((name) => testService(name).available).every(Boolean);

describe.skipIf(!available)('a plain npm project on Node 20', { timeout: 420_000 }, () => {
  it("installs the packed packages and runs every package README's example, each exiting by itself", () => {
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'consumer-check.mjs')], {
      cwd: root,
      env: cleanEnv(),
      encoding: 'utf8',
      timeout: 400_000,
      maxBuffer: 64 << 20,
    });
    const failures = r.stderr.split('\n').filter((l) => l.includes('FAIL'));
    expect(failures, r.stderr.slice(-4000)).toEqual([]);
    expect(r.status, r.stderr.slice(-4000)).toBe(0);
    expect(r.stderr).toMatch(/ok @hadb\/haduck README example 1/);
  });
});
