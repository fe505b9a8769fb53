import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isStorageError, type CasResult } from '@hadb/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalStorageBackend } from '../src/index.js';
import { until } from '@hadb/testkit';

const here = fileURLToPath(new URL('.', import.meta.url));
const children: ChildProcess[] = [];
const roots: string[] = [];

function spawnChild(script: string, args: string[]): ChildProcess {
  const child = fork(join(here, 'fixtures', script), args, {
    cwd: join(here, '..'),
    execArgv: ['--conditions=hadb-source', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  return child;
}

function nextMessage<T>(child: ChildProcess, timeoutMs = 20_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('child did not answer in time')), timeoutMs);
    const onExit = (code: number | null) => reject(new Error(`child exited (${code}) before answering`));
    child.once('message', (m) => {
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve(m as T);
    });
    child.once('exit', onExit);
  });
}

async function tempRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'hadb-local-mp-'));
  roots.push(root);
  return root;
}

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

interface Reply {
  round: number;
  id: number;
  result: CasResult;
  start: number;
  end: number;
  error?: string;
}

describe('local storage across processes', () => {
  it('putIfMatch races between 3 processes: exactly one winner per round, the stored bytes are its', async () => {
    const root = await tempRoot();
    const key = 'lease/_lease.json';
    const workers = 3;
    const rounds = 40;
    const size = 256 * 1024;
    const kids = Array.from({ length: workers }, (_, i) => spawnChild('cas-child.ts', [root, key, String(i + 1)]));
    await Promise.all(kids.map((k) => nextMessage(k)));
    await using backend = await LocalStorageBackend.open({ root });
    let { etag } = await backend.put(key, new Uint8Array(size));
    let overlapping = 0;
    for (let round = 0; round < rounds; round++) {
      const at = Date.now() + 25;
      const replies = Promise.all(kids.map((k) => nextMessage<Reply>(k)));
      for (const k of kids) k.send({ round, etag, at, size });
      const got = await replies;
      for (const r of got) expect(r.error, r.error).toBeUndefined();
      const winners = got.filter((r) => r.result.success);
      expect(winners, `round ${round}`).toHaveLength(1);
      const winner = winners[0]!;
      const stored = await backend.get(key);
      expect(Buffer.from(stored!.data.subarray(0, 12)).toString().startsWith(`w${winner.id}-r${round}`)).toBe(true);
      expect(stored!.data.length).toBe(size);
      expect(stored!.data[size - 1]).toBe(winner.id);
      if (winner.result.success) expect(stored!.etag).toBe(winner.result.etag);
      if (winner.result.success) etag = winner.result.etag;
      const starts = Math.max(...got.map((r) => r.start));
      const ends = Math.min(...got.map((r) => r.end));
      if (starts < ends) overlapping++;
    }
    // The race is real: in many rounds all three calls were in flight at the same time (usually
    // nearly all; the bound leaves room for a loaded machine).
    console.log(`multi-process putIfMatch: ${overlapping}/${rounds} rounds had all writers in flight at once`);
    expect(overlapping).toBeGreaterThan(rounds / 10);
  }, 120_000);

  it('a SIGKILLed lock holder does not wedge the key; a live one blocks until the lock timeout', async () => {
    const root = await tempRoot();
    const key = 'k';
    await using backend = await LocalStorageBackend.open({ root, lockTimeoutMs: 300 });
    const { etag } = await backend.put(key, new Uint8Array([1]));
    const holder = spawnChild('lock-holder.ts', [root, key]);
    await nextMessage(holder);

    // While the holder lives, writers of that key wait and then give up with UNAVAILABLE.
    const t0 = Date.now();
    let code: string | undefined;
    try {
      await backend.putIfMatch(key, new Uint8Array([2]), etag);
    } catch (e) {
      code = isStorageError(e) ? e.code : String(e);
    }
    expect(code).toBe('HADB_STORAGE_UNAVAILABLE');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(Buffer.from((await backend.get(key))!.data)).toEqual(Buffer.from([1]));
    // Other keys are not blocked.
    await backend.put('other', new Uint8Array([3]));

    // Blocked writer in flight when the holder dies.
    await using patient = await LocalStorageBackend.open({ root, lockTimeoutMs: 10_000 });
    const pending = patient.putIfMatch(key, new Uint8Array([4]), etag);
    await new Promise((r) => setTimeout(r, 100));
    holder.kill('SIGKILL');
    const t1 = Date.now();
    const result = await pending;
    expect(result.success).toBe(true);
    expect(Date.now() - t1).toBeLessThan(5000);
    expect(Buffer.from((await backend.get(key))!.data)).toEqual(Buffer.from([4]));
    expect(await backend.list('')).toEqual(['k', 'other']);
  }, 60_000);

  it('a writer SIGKILLed mid-write leaves no visible partial object and does not block the key', async () => {
    const root = await tempRoot();
    await using backend = await LocalStorageBackend.open({ root });
    const kid = spawnChild('cas-child.ts', [root, 'big', '7']);
    await nextMessage(kid);
    const { etag } = await backend.put('big', new Uint8Array(16));
    kid.send({ round: 0, etag, at: 0, size: 256 * 1024 * 1024 });
    // Kill it once its temp file exists, i.e. while it writes or syncs.
    await until(async () => (await readdir(root)).some((n) => n.startsWith('.hadb-tmp-')), {
      timeoutMs: 20_000,
      intervalMs: 2,
      what: 'the child’s temp file',
    });
    kid.kill('SIGKILL');
    await new Promise((r) => kid.once('exit', r));
    const got = await backend.get('big');
    expect(got!.data.length).toBe(16);
    expect(got!.etag).toBe(etag);
    expect(await backend.list('')).toEqual(['big']);
    const next = await backend.putIfMatch('big', new Uint8Array(1), got!.etag);
    expect(next.success).toBe(true);
    // The dead writer's temp file is invisible, and removeOrphans reclaims it (and only it).
    expect((await readdir(root)).filter((n) => n.startsWith('.hadb-tmp-'))).toHaveLength(1);
    const removed = await backend.removeOrphans();
    expect(removed.tempFiles).toBe(1);
    expect((await readdir(root)).filter((n) => n.startsWith('.hadb-tmp-'))).toHaveLength(0);
    expect((await readdir(join(root, '.hadb-locks', 'owners'))).length).toBe(1); // ours only
    expect(Buffer.from((await backend.get('big'))!.data)).toEqual(Buffer.from([0]));
  }, 60_000);
});
