import { createClient } from '@libsql/client';
import { webhookReceiver } from '@hadb/testkit';
import { describe, expect, it } from 'vitest';
import { serve } from '../src/index.js';
import { localNodes } from './local-nodes.js';

const SECRET = 'hook-secret-0123456789';
const { node, defer } = localNodes('events');

describe('HaQLite admin events', () => {
  it('a wrong Hrana token sends auth_failure; a follower restoring the walstream snapshot sends restore_completed', async () => {
    const hooks = await webhookReceiver({ secret: SECRET });
    defer(() => hooks.close());
    const admin = { port: 0, webhooks: { targets: [{ url: hooks.url, secret: SECRET }] } };

    const a = await node('a', { admin });
    const server = await serve(a, { port: 0, authToken: 'right-token-0123456789' });
    defer(() => server.close());
    const good = createClient({ url: server.url, authToken: 'right-token-0123456789' });
    const bad = createClient({ url: server.url, authToken: 'wrong-token-0123456789' });
    defer(() => good.close());
    defer(() => bad.close());
    await good.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    await good.execute("INSERT INTO t (v) VALUES ('one')");
    await expect(bad.execute('SELECT 1')).rejects.toThrow();
    const denied = await hooks.waitFor('auth_failure');
    expect(denied.verified).toBe(true);
    expect(denied.json).toMatchObject({ event: 'auth_failure', database: 'app', context: { via: 'hrana', node: 'a' } });
    expect(denied.body).not.toContain('token-0123456789');
    await a.sync();

    await node('b', { admin: { ...admin, port: 0 } });
    const restored = await hooks.waitFor('restore_completed');
    expect(restored.verified).toBe(true);
    expect(restored.json).toMatchObject({ event: 'restore_completed', database: 'app', context: { node: 'b' } });
  }, 60_000);
});
