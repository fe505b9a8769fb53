import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commandLines, copyWorkspace, fencedBlocks, root, sh } from './workspace.js';

// CONTRIBUTING.md "Adding a lease store", run as written on a copy of the working tree: step 1
// (scaffold, install, the suite on the copy), step 3's SERVICE_ENV entry for the new server, and
// step 5's typecheck and build (which builds @hadb/testkit with the new service in it).
const contributing = readFileSync(join(root, 'CONTRIBUTING.md'), 'utf8');
const work = copyWorkspace('hadb-scaffold-');

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('CONTRIBUTING.md: adding a lease store', { timeout: 400_000 }, () => {
  it('step 1 scaffolds @hadb/lease-redis, which passes the lease suite as copied', () => {
    const [block] = fencedBlocks(contributing, 'sh scaffold');
    expect(block, 'a ```sh scaffold block in CONTRIBUTING.md').toBeDefined();
    const lines = commandLines(block!);
    expect(lines[0]).toMatch(/^bash scripts\/new-package\.sh lease-redis /);
    for (const line of lines) {
      const r = sh(line, work, 240_000);
      expect(r.status, `${line}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`).toBe(0);
      if (line.includes('vitest run')) {
        const out = r.stdout.replace(/\x1b\[[0-9;]*m/g, '');
        expect(out).toMatch(/@hadb\/lease-redis\s+test\/redis-lease-store\.test\.ts/);
        expect(out).toMatch(/Tests\s+\d+ passed/);
        expect(out).not.toMatch(/failed|skipped/);
      }
    }
    const pkg = JSON.parse(readFileSync(join(work, 'packages/lease-redis/package.json'), 'utf8'));
    expect(pkg.peerDependencies).toEqual({ '@hadb/lease': 'workspace:^' });
    expect(pkg.files).toEqual(['dist', 'src', 'LICENSE']);
    expect(readFileSync(join(work, 'packages/lease-redis/README.md'), 'utf8')).toContain(
      'npm install @hadb/lease-redis @hadb/lease',
    );
    expect(readFileSync(join(work, 'packages/lease-redis/src/index.ts'), 'utf8')).toContain('RedisLeaseStore');
  });

  it("step 5's typecheck and build pass with step 3's new service in SERVICE_ENV", () => {
    const services = join(work, 'packages/testkit/src/services.ts');
    const before = readFileSync(services, 'utf8');
    const after = before.replace(/export const SERVICE_ENV = \{\n/, "$&  redis: ['HADB_TEST_REDIS_URL'],\n");
    expect(after).not.toBe(before);
    writeFileSync(services, after);
    const [block] = fencedBlocks(contributing, 'sh check');
    expect(block, 'a ```sh check block in CONTRIBUTING.md').toBeDefined();
    const [check] = commandLines(block!);
    expect(check).toMatch(/turbo run typecheck build --filter @hadb\/lease-redis/);
    const r = sh(check!, work, 300_000);
    expect(r.status, `${check}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`).toBe(0);
  });
});
