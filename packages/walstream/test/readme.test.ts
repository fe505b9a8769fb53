// The README's replicate-and-restore example, run as a plain .mjs by Node (paths moved into a
// temporary directory), and its output checked.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cliIntegrity, tempDir } from './helpers.js';

const pkg = join(fileURLToPath(new URL('.', import.meta.url)), '..');

describe('README example', () => {
  it('runs as plain .mjs on Node and restores what it wrote', () => {
    const t = tempDir('readme');
    const readme = readFileSync(join(pkg, 'README.md'), 'utf8');
    const block = /```js(?: example)?\n(\/\/ replicate-and-restore\.mjs[\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const code = block!
      .replaceAll("'./backups'", JSON.stringify(join(t.dir, 'backups')))
      .replaceAll("'app.db'", JSON.stringify(join(t.dir, 'app.db')))
      .replaceAll("'restored.db'", JSON.stringify(join(t.dir, 'restored.db')));
    expect(code).not.toContain('await using');
    // Inside the package, so `@hadb/walstream` resolves to itself (from source: hadb-source + tsx).
    const file = join(pkg, `.readme-${process.pid}.mjs`);
    writeFileSync(file, code);
    try {
      const out = execFileSync(process.execPath, ['--conditions=hadb-source', '--import', 'tsx', file], {
        cwd: pkg,
        encoding: 'utf8',
      });
      expect(out).toMatch(/durable at seq 2n\b/);
      expect(out).toMatch(/restored seq 2n\b/);
      expect(out).toContain("body: 'hello'");
      expect(cliIntegrity(join(t.dir, 'restored.db'))).toBe('ok');
    } finally {
      rmSync(file, { force: true });
      t.cleanup();
    }
  });
});
