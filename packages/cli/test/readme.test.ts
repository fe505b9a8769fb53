// The README's program example, run as a plain .mjs by Node, and its output checked.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pkg = join(fileURLToPath(new URL('.', import.meta.url)), '..');

describe('README example', () => {
  it('snapshots, verifies and restores a SQLite file through run()', () => {
    const readme = readFileSync(join(pkg, 'README.md'), 'utf8');
    const block = /```js example\n(\/\/ hadb-cli\.mjs[\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    expect(block).not.toContain('await using');
    // Inside the package, so `@hadb/cli` resolves to itself (from source: hadb-source + tsx).
    const file = join(pkg, `.readme-${process.pid}.mjs`);
    writeFileSync(file, block!);
    try {
      const out = execFileSync(process.execPath, ['--conditions=hadb-source', '--import', 'tsx', file], {
        cwd: pkg,
        encoding: 'utf8',
      });
      expect(out).toMatch(/^app: snapshot at seq \d+/m);
      expect(out).toMatch(/^app: OK, \d+ objects/m);
      expect(out).toMatch(/^restored app to seq \d+/m);
      expect(out).toContain("restored: { body: 'hello' }");
    } finally {
      rmSync(file, { force: true });
    }
  });
});
