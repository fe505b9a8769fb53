import { decodeSegment, incrementalKey } from '@hadb/duckblock';
import { webhookReceiver } from '@hadb/testkit';
import { describe, expect, it } from 'vitest';
import { localNodes } from './local-nodes.js';

const SECRET = 'hook-secret-0123456789';
const nodes = localNodes('events');
const { node } = nodes;

describe('HaDuck admin events', () => {
  it('a follower bootstrapping from a snapshot sends restore_completed; a corrupt segment in storage sends corruption_detected; lag counts from the applied created_ms', async () => {
    await using hooks = await webhookReceiver({ secret: SECRET });

    const a = await node('a');
    await a.execute('CREATE TABLE t (id INTEGER, v VARCHAR)');
    await a.execute("INSERT INTO t SELECT range, 'row ' || range FROM range(1000)", [], { durability: 'shipped' });

    // The forged object below is announced by no leader: b finds it on its slow idle look at
    // storage (every 10 pull timeouts while the leader answers).
    const b = await node('b', {
      pullTimeoutMs: 1500,
      admin: { port: 0, webhooks: { targets: [{ url: hooks.url, secret: SECRET }] } },
    });
    expect(b.role).toBe('follower');
    const restored = await hooks.waitFor('restore_completed');
    expect(restored.verified).toBe(true);
    expect(restored.json).toMatchObject({ event: 'restore_completed', database: 'app', context: { node: 'b' } });

    // One more shipped segment, applied by b; then a forged copy of it (one byte flipped) as the next one.
    await a.execute("INSERT INTO t VALUES (5000, 'after')", [], { durability: 'shipped' });
    await b.sync();
    const head = BigInt(b.stats().position);
    const real = await nodes.storage.get(incrementalKey('haduck/', 'app', head));
    expect(real).not.toBeNull();
    // Lag is measured from the applied segment's created_ms (the leader's capture time).
    const createdMs = Number(decodeSegment(real!.data).changeset.header.createdMs);
    const lagOf = async (): Promise<{ lagSeconds: number | null; lagSource: string }> => {
      const status = (await (await fetch(`${b.adminUrl}status`)).json()) as {
        nodes: { databases: { lagSeconds: number | null; lagSource: string }[] }[];
      };
      return status.nodes[0]!.databases[0]!;
    };
    expect((await lagOf()).lagSource).toBe('commit-time');
    const forged = Uint8Array.from(real!.data);
    forged[forged.length >> 1]! ^= 0xff;
    await nodes.storage.put(incrementalKey('haduck/', 'app', head + 1n), forged);

    const corrupt = await hooks.waitFor('corruption_detected', { timeoutMs: 40_000 });
    expect(corrupt.verified).toBe(true);
    expect(corrupt.json).toMatchObject({ event: 'corruption_detected', database: 'app', context: { node: 'b' } });
    expect(String(corrupt.json!.error)).toMatch(/^HADB_DUCKBLOCK_/);
    // Nothing past the bad object was applied; the lag grows from the last applied commit time.
    expect(BigInt(b.stats().position)).toBe(head);
    await new Promise((r) => setTimeout(r, 1500));
    const before = Date.now();
    const lag = await lagOf();
    expect(lag.lagSource).toBe('commit-time');
    expect(lag.lagSeconds).toBeGreaterThanOrEqual((before - createdMs) / 1000 - 0.1);
    expect(lag.lagSeconds).toBeLessThanOrEqual((Date.now() - createdMs) / 1000 + 0.1);
    const metrics = await (await fetch(`${b.adminUrl}metrics`)).text();
    expect(metrics).toMatch(/^hadb_errors_total\{code="HADB_DUCKBLOCK_[A-Z_]+",db="app",node="b"\} 1$/m);
  }, 90_000);
});
