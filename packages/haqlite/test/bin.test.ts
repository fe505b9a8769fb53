import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createClient } from '@libsql/client';
import { expect, it } from 'vitest';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const bin = join(pkg, 'src', 'bin', 'haqlite.ts');

function start(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['--conditions=hadb-source', '--import', 'tsx', bin, ...args], {
    cwd: pkg,
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exited, stderr: () => stderr };
}

it('haqlite serve: a node speaking Hrana; SIGTERM closes it cleanly; a public bind without a token is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'haqlite-bin-'));
  try {
    const storage = pathToFileURL(join(dir, 'storage')).href;
    const node = start(
      [
        'serve',
        '--path',
        join(dir, 'a.db'),
        '--name',
        'app',
        '--storage',
        storage,
        '--instance',
        'a',
        '--listen',
        '127.0.0.1:0',
      ],
      { HAQLITE_AUTH_TOKEN: 'tok' },
    );
    const deadline = Date.now() + 30_000;
    while (!node.lines.some((l) => l.event === 'open') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const open = node.lines.find((l) => l.event === 'open');
    expect(open, node.stderr()).toMatchObject({ role: 'leader' });
    const client = createClient({ url: open!.url as string, authToken: 'tok', intMode: 'bigint' });
    await client.execute('CREATE TABLE t (v TEXT)');
    await client.execute({ sql: 'INSERT INTO t VALUES (?)', args: ['x'] });
    expect((await client.execute('SELECT count(*) AS n FROM t')).rows[0]!.n).toBe(1n);
    client.close();
    node.child.kill('SIGTERM');
    expect(await node.exited).toBe(0);
    expect(node.lines.some((l) => l.event === 'closed')).toBe(true);

    const open2 = start(
      [
        'serve',
        '--path',
        join(dir, 'b.db'),
        '--name',
        'app',
        '--storage',
        storage,
        '--instance',
        'b',
        '--listen',
        '0.0.0.0:0',
      ],
      {},
    );
    expect(await open2.exited).toBe(2);
    expect(open2.stderr()).toMatch(/without HAQLITE_AUTH_TOKEN/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 90_000);
