import { describe, expect, it } from 'vitest';
import type { HaQLite } from '../src/index.js';
import { localNodes } from './local-nodes.js';

// A leader and a follower in this process, each with its own admin server (the `admin` option).
const TOKEN = 'admin-token-0123456789';
const { node } = localNodes('admin', { admin: { port: 0, token: TOKEN, sampleIntervalMs: 200 } });

async function get(db: HaQLite, path: string): Promise<Response> {
  expect(db.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  return fetch(`${db.adminUrl}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
}

async function metrics(db: HaQLite): Promise<string> {
  const r = await get(db, 'metrics');
  expect(r.status).toBe(200);
  return r.text();
}

interface Status {
  nodes: {
    nodeId: string;
    databases: { db: string; role: string; lagSeconds?: number | null; lagSource?: string }[];
  }[];
}

describe('haqlite with the admin option', () => {
  it('serves /metrics, /ready and /status on leader and follower, and shows the promotion after the leader leaves', async () => {
    const a = await node('a');
    expect(a.role).toBe('leader');
    const b = await node('b');
    expect(b.role).toBe('follower');
    await a.execute('CREATE TABLE t (v INTEGER)');
    for (let i = 0; i < 5; i++) await a.execute('INSERT INTO t VALUES (?)', [i], { durability: 'shipped' });
    await b.sync();

    expect((await fetch(`${a.adminUrl}ready`)).status).toBe(200);
    expect((await fetch(`${a.adminUrl}health`)).status).toBe(200);
    expect((await fetch(`${a.adminUrl}metrics`)).status).toBe(401);

    const am = await metrics(a);
    expect(am).toMatch(/^hadb_role\{[^}]*role="leader"[^}]*\} 1$/m);
    expect(am).toMatch(/^hadb_is_leader\{[^}]*node="a"[^}]*\} 1$/m);
    expect(am).toMatch(/^hadb_shipped_segments_total\{[^}]*node="a"[^}]*\} [1-9]\d*$/m);
    expect(am).toMatch(/^hadb_shipped_bytes_total\{[^}]*node="a"[^}]*\} [1-9]\d*$/m);
    expect(am).toMatch(/^hadb_seconds_since_last_ship\{[^}]*node="a"[^}]*\} \d/m);

    const bm = await metrics(b);
    expect(bm).toMatch(/^hadb_role\{[^}]*role="follower"[^}]*\} 1$/m);
    expect(bm).toMatch(/^hadb_lag_seconds\{[^}]*node="b"[^}]*\} \d/m);
    expect(bm).toMatch(/^hadb_applied_segments_total\{[^}]*node="b"[^}]*\} [1-9]\d*$/m);
    expect((await fetch(`${b.adminUrl}ready`)).status).toBe(200);

    let status = (await (await get(b, 'status')).json()) as Status;
    expect(status.nodes[0]!.nodeId).toBe('b');
    // Lag is measured from the applied changesets' creation times, not estimated.
    expect(status.nodes[0]!.databases[0]).toMatchObject({ db: 'app', role: 'follower', lagSource: 'commit-time' });
    expect(status.nodes[0]!.databases[0]!.lagSeconds).toBeGreaterThanOrEqual(0);

    // The leader leaves (its admin server closes first); the follower is promoted and says so.
    const aUrl = a.adminUrl!;
    await a.close();
    await expect(fetch(`${aUrl}health`)).rejects.toThrow();
    await b.waitForRole('leader', { signal: AbortSignal.timeout(10_000) });
    status = (await (await get(b, 'status')).json()) as Status;
    expect(status.nodes[0]!.databases[0]).toMatchObject({ db: 'app', role: 'leader' });
    expect(await metrics(b)).toMatch(/^hadb_role\{[^}]*role="leader"[^}]*\} 1$/m);
    expect((await fetch(`${b.adminUrl}ready`)).status).toBe(200);
  });
});
