import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const pkg = fileURLToPath(new URL('..', import.meta.url));

it("the README's example runs as written (plain .mjs, in a scratch directory)", () => {
  const readme = readFileSync(join(pkg, 'README.md'), 'utf8');
  const code = /```js(?: example)?\n(\/\/ app\.mjs[\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  // Inside the package, so `@hadb/haqlite` resolves by self-reference (to the sources here).
  const dir = mkdtempSync(join(pkg, 'test', '.readme-'));
  try {
    writeFileSync(join(dir, 'app.mjs'), code!);
    const run = spawnSync(process.execPath, ['--conditions=hadb-source', '--import', 'tsx', 'app.mjs'], {
      cwd: dir,
      env: { ...process.env, DIR: join(dir, 'data'), NODE_ID: 'a' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('role: leader');
    expect(run.stdout).toContain("[ [ 1n, 'hello' ] ]");
    expect(run.stdout).toContain('notes: 2n');
    expect(run.stdout).toMatch(/hrana at http:\/\/127\.0\.0\.1:\d+/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 90_000);
