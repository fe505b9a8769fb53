import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * One config for the whole workspace: every package and example with a `test/` folder becomes a
 * Vitest project named after its package. Workspace imports resolve through the `hadb-source`
 * export condition to `src/`, so a change needs no rebuild before testing.
 */
const conditions = ['hadb-source', 'node', 'import', 'default'];
const workspace = fileURLToPath(new URL('.', import.meta.url));

function projects() {
  const out = [];
  for (const group of ['packages', 'examples']) {
    const base = join(workspace, group);
    if (!existsSync(base)) continue;
    for (const dir of readdirSync(base).sort()) {
      const root = join(base, dir);
      if (!existsSync(join(root, 'test')) || !existsSync(join(root, 'package.json'))) continue;
      const { name } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string };
      out.push({
        extends: true as const,
        test: { name, root, include: ['test/**/*.test.ts'] },
      });
    }
  }
  // Tests of the workspace itself (scripts/test): the consumer walk, the contributor walk, the runner.
  out.push({
    extends: true as const,
    test: { name: 'hadb-scripts', root: workspace, include: ['scripts/test/**/*.test.ts'] },
  });
  return out;
}

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['hadb-source'] } },
  test: {
    projects: projects(),
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
