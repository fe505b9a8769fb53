import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { restore, listRemote } from '../src/index.js';
import { cli, cliIntegrity, openLocal, sidecarArgs, tempDir } from './helpers.js';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

describe('sidecar with the sqlite3 CLI as the writer (another process)', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('replicates commits made by sqlite3, stops cleanly on SIGTERM, and the restore matches', async () => {
    const t = tempDir('sidecar');
    cleanups.push(t.cleanup);
    const path = join(t.dir, 'cli.db');
    cli(path, 'PRAGMA journal_mode=WAL; CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);');
    const [cmd, args] = sidecarArgs([
      '--storage',
      `local:${join(t.dir, 'bucket')}`,
      '--prefix',
      'side/',
      '--sync-interval-ms',
      '20',
      path,
    ]);
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => void child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const wait = async (pred: () => boolean): Promise<void> => {
      const end = Date.now() + 20_000;
      while (!pred()) {
        if (Date.now() > end) throw new Error(`timeout; stdout ${out.slice(-500)} stderr ${err.slice(-1000)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await wait(() => out.includes('"ready"'));
    for (let i = 0; i < 20; i++) {
      cli(path, `INSERT INTO notes (body) VALUES ('note ${i} ' || hex(randomblob(${100 + i * 50})));`);
    }
    cli(
      path,
      "UPDATE notes SET body = 'edited' WHERE id % 3 = 0; DELETE FROM notes WHERE id = 5; CREATE INDEX nb ON notes(body);",
    );
    const expected = cli(path, 'SELECT count(*), sum(length(body)) FROM notes;');
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code, err).toBe(0);
    expect(out).toContain('"stopped"');
    // One lineage: the CLI never got to checkpoint away frames the sidecar had not read.
    expect(out.split('\n').filter((l) => l.includes('"type":"snapshot"')).length).toBe(1);
    expect(out).not.toContain('"type":"error"');
    const storage = await openLocal(t.dir);
    expect((await listRemote(storage, 'side/', 'cli.db')).headSeq).toBeGreaterThan(1n);
    const restored = join(t.dir, 'restored.db');
    await restore({ storage, prefix: 'side/', name: 'cli.db', output: restored });
    expect(cliIntegrity(restored)).toBe('ok');
    expect(cli(restored, 'SELECT count(*), sum(length(body)) FROM notes;')).toBe(expected);
    expect(cli(restored, "SELECT name FROM sqlite_schema WHERE type = 'index';")).toBe('nb');
  });
});
