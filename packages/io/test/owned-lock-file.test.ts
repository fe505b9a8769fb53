import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OwnedLockFile, currentProcessOwner, isIoError } from '../src/index.js';

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});
function lockIn(): string {
  dir = mkdtempSync(join(tmpdir(), 'io-lock-'));
  return join(dir, 'x.lock');
}
/** The pid of a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}
const timing = { heartbeatMs: 50, staleMs: 400 };

describe('OwnedLockFile', () => {
  it('records its owner and fields whole, refuses a second holder (this process too), and releases', async () => {
    const path = lockIn();
    const first = await OwnedLockFile.acquire(path, { fields: { role: 'writer' } });
    expect(first.lock).toBeDefined();
    const record = JSON.parse(readFileSync(path, 'utf8'));
    expect(record).toMatchObject({ ...currentProcessOwner(), role: 'writer' });
    // No temporary file is left beside it.
    expect(readdirSync(dir!)).toEqual(['x.lock']);
    const second = await OwnedLockFile.acquire(path);
    expect(second.lock).toBeUndefined();
    expect(second.held?.fields.role).toBe('writer');
    first.lock!.record({ role: 'writer', generation: '2' });
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ pid: process.pid, generation: '2' });
    expect(readdirSync(dir!)).toEqual(['x.lock']);
    first.lock!.release();
    first.lock!.release();
    const third = await OwnedLockFile.acquire(path);
    expect(third.lock?.previous).toBeUndefined();
    third.lock!.release();
  });

  it('takes over from a dead owner — current and earlier formats — and names it; never from an unreadable file or another host', async () => {
    const path = lockIn();
    const me = currentProcessOwner();
    for (const text of [
      JSON.stringify({ ...me, pid: deadPid(), nonce: 'gone', role: 'old' }),
      JSON.stringify({ pid: deadPid(), host: me.host, role: 'old' }),
      `${deadPid()}\n`,
    ]) {
      writeFileSync(path, text);
      const got = await OwnedLockFile.acquire(path);
      expect(got.lock, text).toBeDefined();
      expect(got.lock!.previous?.owner.pid).toBeGreaterThan(0);
      got.lock!.release();
    }
    for (const text of ['', '{"pid":', JSON.stringify({ ...me, pid: deadPid(), host: 'elsewhere', nonce: 'x' })]) {
      writeFileSync(path, text);
      expect((await OwnedLockFile.acquire(path)).lock, text).toBeUndefined();
    }
  });

  it('a holder in another pid namespace of this host: taken over once its heartbeat stops, never while it beats', async () => {
    const path = lockIn();
    const me = currentProcessOwner();
    const other = { ...me, pidns: `${me.pidns}-another`, nonce: 'container-1' };
    writeFileSync(path, JSON.stringify({ ...other, role: 'c' }));
    const beat = setInterval(() => {
      const now = new Date();
      utimesSync(path, now, now);
    }, 50);
    const started = Date.now();
    const refused = await OwnedLockFile.acquire(path, timing);
    clearInterval(beat);
    expect(refused.lock).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    const got = await OwnedLockFile.acquire(path, timing);
    expect(got.lock?.previous?.fields.role).toBe('c');
    // The new holder beats: a watcher in yet another namespace sees the time move.
    const before = statSync(path).mtimeMs;
    await new Promise((r) => setTimeout(r, 150));
    expect(statSync(path).mtimeMs).toBeGreaterThan(before);
    got.lock!.release();
    // Without a boot id to compare (not Linux) nothing is guessed: never taken over.
    writeFileSync(path, JSON.stringify({ ...other, boot: null }));
    utimesSync(path, new Date(0), new Date(0));
    expect((await OwnedLockFile.acquire(path, timing)).lock).toBeUndefined();
  });

  it('the wait for a watched heartbeat is cut by the signal: HADB_IO_ABORTED at once, the holder’s file untouched', async () => {
    const path = lockIn();
    const me = currentProcessOwner();
    const text = JSON.stringify({ ...me, pidns: `${me.pidns}-another`, nonce: 'container-1' });
    writeFileSync(path, text);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    const err = await OwnedLockFile.acquire(path, { ...timing, staleMs: 20_000, signal: controller.signal }).catch(
      (e: unknown) => e,
    );
    expect(isIoError(err, 'HADB_IO_ABORTED'), String(err)).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(readFileSync(path, 'utf8')).toBe(text);
    // An aborted signal takes nothing, even where the lock is free.
    rmSync(path);
    await expect(OwnedLockFile.acquire(path, { signal: controller.signal })).rejects.toSatisfy((e) =>
      isIoError(e, 'HADB_IO_ABORTED'),
    );
    expect(readdirSync(dir!)).toEqual([]);
  });
});
