import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { x25519Pair } from './helpers.js';

const pkg = fileURLToPath(new URL('..', import.meta.url));

it("the README's two-line example runs as a plain .mjs module on this Node and stores only ciphertext", async () => {
  const readme = readFileSync(join(pkg, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Turning encryption on'));
  const code = /```js(?: example)?\n([\s\S]*?)```/.exec(section)?.[1];
  expect(code).toContain('encryptedStorage(');
  expect(code).not.toContain('await using');
  const dir = mkdtempSync(join(tmpdir(), 'hadb-age-readme-'));
  try {
    const keys = await x25519Pair();
    // Workspace packages resolve to their TypeScript sources (hadb-source), which tsx loads; the
    // example itself is plain JavaScript.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--conditions=hadb-source', '--import', 'tsx', '--input-type=module', '-e', code!],
      {
        cwd: pkg,
        env: { ...process.env, BUCKET_DIR: dir, HADB_AGE_RECIPIENT: keys.recipient, HADB_AGE_IDENTITY: keys.identity },
      },
    );
    expect(stdout.trim()).toBe('only ciphertext reaches the bucket');
    const stored = readFileSync(join(dir, 'hello.txt'));
    expect(stored.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    expect(stored.includes('only ciphertext')).toBe(false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
