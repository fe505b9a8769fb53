import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { currentProcessOwner, isCertainlyDead, parseProcessOwner, processStat } from '../src/index.js';

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('owner liveness', () => {
  it('judges this process alive and an exited process dead', () => {
    const me = currentProcessOwner();
    expect(isCertainlyDead(me)).toBe(false);
    expect(isCertainlyDead({ ...me, pid: deadPid(), nonce: 'other' })).toBe(true);
  });

  it('treats a recycled pid (different start time) as dead and foreign hosts or namespaces as alive', () => {
    const me = currentProcessOwner();
    const parent = process.ppid;
    const start = processStat(parent)?.start;
    expect(start).toBeDefined();
    expect(isCertainlyDead({ ...me, pid: parent, start: start!, nonce: 'p' })).toBe(false);
    expect(isCertainlyDead({ ...me, pid: parent, start: `${start}9`, nonce: 'p' })).toBe(true);
    expect(isCertainlyDead({ ...me, pid: deadPid(), host: 'elsewhere', nonce: 'x' })).toBe(false);
    expect(isCertainlyDead({ ...me, pid: deadPid(), pidns: 'pid:[1]', nonce: 'x' })).toBe(false);
    expect(isCertainlyDead({ ...me, pid: deadPid(), boot: 'another-boot', nonce: 'x' })).toBe(true);
  });
});

describe('owner records', () => {
  it('round-trip as JSON; anything else is not an owner', () => {
    const me = currentProcessOwner();
    expect(parseProcessOwner(JSON.stringify(me))).toEqual(me);
    for (const text of ['', '{', '123', 'null', '{"pid":"1","host":"h","nonce":"n"}', '{"pid":1,"host":"h"}']) {
      expect(parseProcessOwner(text)).toBeNull();
    }
  });
});
