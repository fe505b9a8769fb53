import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { Walstream, restore } from '../src/index.js';
import {
  cliIntegrity,
  committedHash,
  fileHash,
  openLocal,
  prng,
  randomTxn,
  sidecarArgs,
  tempDir,
  localApp,
} from './helpers.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..', '..', '..');

/** Starts a child and collects its stdout lines. */
function start(
  cmd: string,
  args: string[],
  cwd: string,
): { child: ChildProcess; lines: string[]; waitFor(pred: (l: string) => boolean, ms?: number): Promise<string> } {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  const waiters: Array<{ pred: (l: string) => boolean; resolve: (l: string) => void }> = [];
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(l);
      for (const w of waiters.splice(0)) w.pred(l) ? w.resolve(l) : waiters.push(w);
    }
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return {
    child,
    lines,
    waitFor(pred, ms = 20_000) {
      const hit = lines.find(pred);
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timeout waiting for output; stderr: ${stderr.slice(-2000)}`)),
          ms,
        );
        waiters.push({
          pred,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
  };
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => child.once('exit', () => r()));
}

describe('crashes (real child processes, SIGKILL)', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('SIGKILL of the writer mid-transaction: every acknowledged commit is restored, nothing torn', async () => {
    const t = tempDir('kill-writer');
    cleanups.push(t.cleanup);
    const storage = await openLocal(t.dir);
    const path = join(t.dir, 'w.db');
    new Database(path).close();
    const ws = await Walstream.open({ storage, syncIntervalMs: 10, checkpoint: { minPages: 300 } });
    cleanups.push(() => ws.close());
    for (let round = 0; round < 3; round++) {
      const w = start(process.execPath, [join(here, 'fixtures/writer.mjs'), path, String(round + 1)], here);
      cleanups.push(() => void w.child.kill('SIGKILL'));
      await w.waitFor((l) => l === 'ready');
      if (round === 0) await ws.add(path, { name: 'w' });
      await new Promise((r) => setTimeout(r, 150 + round * 100));
      w.child.kill('SIGKILL');
      await exited(w.child);
      const acked = Math.max(0, ...w.lines.filter((l) => l !== 'ready').map((l) => Number(l.split(' ')[0])));
      expect(acked).toBeGreaterThan(0);
      const res = await ws.get('w')!.sync();
      const out = join(t.dir, `out-${round}.db`);
      await restore({ storage, name: 'w', output: out, seq: res.seq, integrity: 'full' });
      expect(cliIntegrity(out)).toBe('ok');
      const db = new Database(out, { readonly: true });
      const { max, count } = db.prepare('SELECT max(n) AS max, count(*) AS count FROM log').get() as {
        max: number;
        count: number;
      };
      db.close();
      // Every acknowledged commit is there; a commit that landed but was not yet printed may be too.
      expect(max).toBeGreaterThanOrEqual(acked);
      expect(count).toBe(max);
    }
  });

  it('SIGKILL of the sidecar mid-upload: restarted, it continues and the restore equals the committed state', async () => {
    const { storage, path, app, dir } = await localApp(cleanups, 'kill-sidecar', 'app.db');
    const rnd = prng(9);
    for (let round = 0; round < 3; round++) {
      const [cmd, args] = sidecarArgs(['--storage', `local:${join(dir, 'bucket')}`, '--sync-interval-ms', '5', path]);
      const s = start(cmd, args, root);
      cleanups.push(() => void s.child.kill('SIGKILL'));
      await s.waitFor((l) => l.includes('"ready"'));
      for (let i = 0; i < 30; i++) {
        randomTxn(app, rnd, 40);
        if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      await s.waitFor((l) => l.includes('"shipped"'));
      s.child.kill('SIGKILL'); // uploads are usually in flight now
      await exited(s.child);
    }
    // A last clean run ships the rest.
    const ws = await Walstream.open({ storage, autoSync: false });
    const r = await ws.add(path, { name: 'app.db' });
    const res = await r.sync();
    const out = join(dir, 'out.db');
    await restore({ storage, name: 'app.db', output: out, seq: res.seq });
    expect(fileHash(out)).toBe(await committedHash(app, join(dir, 's.db')));
    expect(cliIntegrity(out)).toBe('ok');
    await ws.close();
  });
});
