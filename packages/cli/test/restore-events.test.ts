import { execFileSync } from 'node:child_process';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalStorageBackend } from '@hadb/storage-local';
import { until, webhookReceiver, type WebhookReceiver } from '@hadb/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, tempDir, writeDuckDatabase } from './fixtures.js';
import { finished, hadb, spawnHadb, type Result } from './harness.js';

const SECRET = 'restore-hook-secret-do-not-log';

/**
 * `hadb restore` and `hadb follow` report `restore_completed` / `restore_failed` through the
 * config file's `admin.webhooks`, as the daemon does.
 */
describe('hadb restore and follow events', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let url: string;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('restore-events'));
    const app = join(dir, 'app.db');
    execFileSync('sqlite3', [
      app,
      "PRAGMA journal_mode = WAL; CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hello'), ('world');",
    ]);
    url = `file://${join(dir, 'backups')}`;
    const snap = await hadb(['snapshot', app, '--name', 'app', '-s', url]);
    expect(snap.code, snap.stderr).toBe(0);
  });
  afterAll(async () => {
    await cleanup();
  });

  const config = async (name: string, lines: readonly string[], storage = url): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, [`storage: ${storage}`, 'admin:', ...lines, ''].join('\n'));
    return path;
  };
  const signedHooks = (hookUrl: string): string[] => [
    '  node: restore-box',
    `  webhooks: [{ url: "${hookUrl}", secret: "\${HADB_WEBHOOK_SECRET}" }]`,
  ];

  /** A copy of the stored SQLite database with one byte of its snapshot flipped. */
  const corruptCopy = async (name: string): Promise<string> => {
    const root = join(dir, name);
    await cp(join(dir, 'backups'), root, { recursive: true });
    const files = (await readdir(join(root, 'app'), { recursive: true })).map(String);
    const snapshot = files.find((f) => f.startsWith('0001/'));
    expect(snapshot, files.join(', ')).toBeDefined();
    const bytes = await readFile(join(root, 'app', snapshot!));
    bytes[bytes.length - 40] = bytes[bytes.length - 40]! ^ 0xff;
    await writeFile(join(root, 'app', snapshot!), bytes);
    return `file://${root}`;
  };

  /**
   * `hook` got one signed `restore_failed` for `app` with `context`, a typed code, and as `error`
   * that code and the message the command printed — never the webhook secret or a stack trace.
   */
  const expectOnlyFailure = (
    hook: WebhookReceiver,
    context: Readonly<Record<string, unknown>>,
    stderr: string,
  ): void => {
    expect(hook.received.map((h) => h.json?.event)).toEqual(['restore_failed']);
    const failed = hook.received[0]!;
    expect(failed.verified).toBe(true);
    expect(failed.json).toMatchObject({
      event: 'restore_failed',
      database: 'app',
      context: { node: 'restore-box', ...context },
    });
    const { code } = failed.json!.context as { code: string };
    expect(code).toMatch(/^HADB_[A-Z_]+$/);
    expect(failed.json!.error).toMatch(new RegExp(`^${code}: .+`));
    expect(stderr).toContain(String(failed.json!.error).slice(code.length + 2));
    expect(failed.body).not.toContain(SECRET);
    expect(failed.body).not.toMatch(/\n\s+at /);
  };

  /** Runs `hadb follow` until `ready` holds, then stops it with SIGTERM. */
  const followUntil = async (
    args: readonly string[],
    ready: (out: string) => boolean,
  ): Promise<{ result: Result; out: string }> => {
    const child = spawnHadb(['follow', ...args, '--interval', '100'], { HADB_WEBHOOK_SECRET: SECRET });
    const done = finished(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until(() => ready(out) || child.exitCode !== null, { timeoutMs: 45_000 });
    } finally {
      child.kill('SIGTERM');
    }
    return { result: await done, out };
  };

  it('sends a signed restore_completed naming the database, the node and what was restored', async () => {
    const hook = await webhookReceiver({ secret: SECRET });
    try {
      const cfg = await config('hooks.yml', [
        '  node: restore-box',
        `  webhooks: [{ url: "${hook.url}", secret: "\${HADB_WEBHOOK_SECRET}" }]`,
      ]);
      const res = await hadb(['restore', 'app', join(dir, 'restored.db'), '-c', cfg, '--json'], {
        HADB_WEBHOOK_SECRET: SECRET,
      });
      expect(res.code, res.stderr).toBe(0);
      const restored = JSON.parse(res.stdout) as { seq: string };
      // Delivered before the command exited: no waiting here.
      const got = hook.received.filter((h) => h.json?.event === 'restore_completed');
      expect(got).toHaveLength(1);
      expect(got[0]!.verified).toBe(true);
      expect(got[0]!.json).toMatchObject({
        event: 'restore_completed',
        database: 'app',
        error: '',
        context: {
          node: 'restore-box',
          command: 'restore',
          engine: 'sqlite',
          path: join(dir, 'restored.db'),
          seq: String(restored.seq),
        },
      });
      expect(res.stderr).not.toContain(SECRET);
      expect(hook.received.filter((h) => h.json?.event === 'restore_failed')).toHaveLength(0);
    } finally {
      await hook.close();
    }
  }, 60_000);

  it('sends a signed restore_failed with the typed code when the restore fails, and no restore_completed', async () => {
    const hook = await webhookReceiver({ secret: SECRET });
    try {
      const cfg = await config('failed.yml', signedHooks(hook.url), await corruptCopy('corrupt-restore'));
      const path = join(dir, 'never-restored.db');
      const res = await hadb(['restore', 'app', path, '-c', cfg], { HADB_WEBHOOK_SECRET: SECRET });
      expect(res.code).toBe(5);
      expectOnlyFailure(hook, { command: 'restore', path }, res.stderr);
    } finally {
      await hook.close();
    }
  }, 60_000);

  it('follow (SQLite) sends restore_completed once, when the initial restore has caught up', async () => {
    const hook = await webhookReceiver({ secret: SECRET });
    try {
      const cfg = await config('follow.yml', signedHooks(hook.url));
      const path = join(dir, 'followed.db');
      const { result } = await followUntil(['app', path, '-c', cfg], () =>
        hook.received.some((h) => h.json?.event === 'restore_completed'),
      );
      expect(result.code, result.stderr).toBe(0);
      const seq = /stopped following at seq (\d+)/.exec(result.stderr)?.[1];
      expect(seq, result.stderr).toBeDefined();
      expect(hook.received.map((h) => h.json?.event)).toEqual(['restore_completed']);
      expect(hook.received[0]!.verified).toBe(true);
      expect(hook.received[0]!.json).toMatchObject({
        event: 'restore_completed',
        database: 'app',
        error: '',
        context: { node: 'restore-box', command: 'follow', engine: 'sqlite', path, seq, restored: true },
      });
      expect(execFileSync('sqlite3', [path, 'SELECT count(*) FROM notes'], { encoding: 'utf8' }).trim()).toBe('2');
    } finally {
      await hook.close();
    }
  }, 60_000);

  it('follow (DuckDB) sends restore_completed once after its first catch-up, not on later polls', async () => {
    const duckRoot = join(dir, 'duck-bucket');
    const storage = await LocalStorageBackend.open({ root: duckRoot });
    const steps = await writeDuckDatabase(storage, dir, 'duck', { rounds: 2 }).finally(() => storage.close());
    const hook = await webhookReceiver({ secret: SECRET });
    try {
      const cfg = await config('follow-duck.yml', signedHooks(hook.url), `file://${duckRoot}`);
      const path = join(dir, 'followed.duckdb');
      let polls = 0;
      const { result } = await followUntil(['duck', path, '-c', cfg], (out) => {
        // A few polls after the first catch-up, so a report on every poll would show.
        if (hook.received.length > 0) polls++;
        return out.includes(`at seq ${steps.at(-1)!.seq}`) && polls > 50;
      });
      expect(result.code, result.stderr).toBe(0);
      expect(hook.received.map((h) => h.json?.event)).toEqual(['restore_completed']);
      expect(hook.received[0]!.verified).toBe(true);
      expect(hook.received[0]!.json).toMatchObject({
        event: 'restore_completed',
        database: 'duck',
        context: {
          node: 'restore-box',
          command: 'follow',
          engine: 'duckblock',
          path,
          seq: String(steps.at(-1)!.seq),
          restored: true,
        },
      });
      expect(await countRows(path)).toBe(steps.at(-1)!.rows);
    } finally {
      await hook.close();
    }
  }, 120_000);

  it('follow sends restore_failed and exits non-zero when the initial restore fails', async () => {
    const hook = await webhookReceiver({ secret: SECRET });
    try {
      const cfg = await config('follow-failed.yml', signedHooks(hook.url), await corruptCopy('corrupt-follow'));
      const path = join(dir, 'never-followed.db');
      const { result } = await followUntil(['app', path, '-c', cfg], () => false);
      expect(result.code).toBe(5);
      expectOnlyFailure(hook, { command: 'follow', path }, result.stderr);
    } finally {
      await hook.close();
    }
  }, 60_000);

  it('sends nothing to a webhook that did not ask for the event; a dead webhook only warns', async () => {
    const hook = await webhookReceiver();
    try {
      const cfg = await config('filtered.yml', [
        `  webhooks: [{ url: "${hook.url}", events: [ship_failed] }, { url: "http://127.0.0.1:9/dead" }]`,
      ]);
      const res = await hadb(['restore', 'app', join(dir, 'filtered.db'), '-c', cfg]);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stderr).toContain('webhook: restore_completed was not delivered to 1 target(s)');
      expect(hook.received).toHaveLength(0);
    } finally {
      await hook.close();
    }
  }, 60_000);

  it('refuses a bad admin section before restoring anything', async () => {
    const cfg = await config('bad.yml', ['  webhooks: [{ secret: x }]']);
    const res = await hadb(['restore', 'app', join(dir, 'never.db'), '-c', cfg]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('admin.webhooks[0] needs url');
    const again = await hadb(['restore', 'app', join(dir, 'never.db'), '-s', url]);
    expect(again.code, again.stderr).toBe(0);
  }, 60_000);
});
