import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ProcessOwner, currentProcessOwner, systemClock } from '@hadb/io';
import { isStorageError } from '@hadb/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireLock } from '../src/key-lock.js';

const roots: string[] = [];
afterEach(async () => {
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

async function lockRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'hadb-lock-'));
  roots.push(root);
  return join(root, '.hadb-locks');
}

/** Plants a ticket for `key` owned by `owner` (what a crashed or foreign process leaves behind). */
async function plantTicket(root: string, key: string, owner: ProcessOwner | string): Promise<string> {
  await acquireLock(root, key, undefined, 1000, systemClock).then((release) => release()); // creates the shard
  const shards = (await readdir(root)).filter((n) => /^[0-9a-f]{2}$/.test(n));
  const shard = join(root, shards[0]!);
  const { createHash } = await import('node:crypto');
  const stem = createHash('sha256').update(key).digest('hex').slice(0, 40);
  const path = join(shard, `${stem}.1`);
  await mkdir(shard, { recursive: true });
  await writeFile(path, typeof owner === 'string' ? owner : JSON.stringify(owner));
  return path;
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return isStorageError(e) ? e.code : String(e);
  }
}

describe('acquireLock', () => {
  it('serialises holders within a process', async () => {
    const root = await lockRoot();
    let inside = 0;
    let max = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const release = await acquireLock(root, 'k', undefined, 5000, systemClock);
        inside++;
        max = Math.max(max, inside);
        await new Promise((r) => setTimeout(r, 2));
        inside--;
        await release();
      }),
    );
    expect(max).toBe(1);
  });

  it("breaks a dead owner's ticket and an unreadable ticket", async () => {
    const root = await lockRoot();
    const dead = await plantTicket(root, 'k', { ...currentProcessOwner(), pid: deadPid(), nonce: 'gone' });
    const release = await acquireLock(root, 'k', undefined, 2000, systemClock);
    await release();
    expect((await readdir(join(dead, '..'))).filter((n) => !n.startsWith('tmp'))).toEqual([]);
    await plantTicket(root, 'j', 'not json');
    await (await acquireLock(root, 'j', undefined, 2000, systemClock))();
  });

  it('waits for a live foreign ticket until the timeout, and honours abort while waiting', async () => {
    const root = await lockRoot();
    const ticket = await plantTicket(root, 'k', { ...currentProcessOwner(), host: 'other-host', nonce: 'foreign' });
    const t0 = Date.now();
    expect(await code(acquireLock(root, 'k', undefined, 200, systemClock))).toBe('HADB_STORAGE_UNAVAILABLE');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(195);
    const c = new AbortController();
    setTimeout(() => c.abort(), 50);
    expect(await code(acquireLock(root, 'k', c.signal, 10_000, systemClock))).toBe('HADB_STORAGE_ABORTED');
    // Only the foreign ticket is left: ours were withdrawn.
    expect(await readdir(join(ticket, '..'))).toEqual([ticket.split('/').pop()]);
    // Other keys are unaffected.
    await (await acquireLock(root, 'other', undefined, 1000, systemClock))();
  });
});
