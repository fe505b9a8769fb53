import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { webhookReceiver } from '@hadb/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './fixtures.js';
import { hadb } from './harness.js';

const SECRET = 'restore-hook-secret-do-not-log';

/** `hadb restore` reports `restore_completed` through the config file's `admin.webhooks`, as the daemon does. */
describe('hadb restore events', () => {
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

  const config = async (name: string, lines: readonly string[]): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, [`storage: ${url}`, 'admin:', ...lines, ''].join('\n'));
    return path;
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
          engine: 'sqlite',
          path: join(dir, 'restored.db'),
          seq: String(restored.seq),
        },
      });
      expect(res.stderr).not.toContain(SECRET);
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
