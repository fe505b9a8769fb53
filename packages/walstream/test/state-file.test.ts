import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RecordFile } from '../src/record-file.js';
import { loadState, saveState, statePath, type LocalState } from '../src/state.js';
import { tempDir, workspaceRoot } from './helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function stateAt(seq: number): LocalState {
  return {
    seq: BigInt(seq),
    checksum: 0xfedcba9876543210n + BigInt(seq),
    pageSize: 4096,
    wal: { salt1: 0xdeadbeef, salt2: 0x12345678, index: seq * 3, cksum1: 0xffffffff, cksum2: seq },
  };
}

describe('the state file (saveState on a RecordFile)', () => {
  it('rewrites one padded record in place after the first save, and loadState reads every version', () => {
    const t = tempDir('state');
    cleanups.push(t.cleanup);
    const db = join(t.dir, 'a.db');
    const file = new RecordFile(statePath(db));
    cleanups.push(() => file.close());
    saveState(file, stateAt(1));
    const first = statSync(statePath(db));
    expect(first.size).toBe(512);
    for (let seq = 2; seq <= 50; seq++) {
      saveState(file, stateAt(seq));
      expect(loadState(db)).toEqual(stateAt(seq));
    }
    // The same inode, overwritten: no new file per save.
    expect(statSync(statePath(db)).ino).toBe(first.ino);
    expect(statSync(statePath(db)).size).toBe(512);
    // A shorter record than the one before leaves no stale tail.
    const closed: LocalState = { ...stateAt(7), wal: null, closedFile: { size: 8192, mtimeMs: 1733400000123.456 } };
    saveState(file, closed);
    saveState(file, { ...stateAt(3), wal: null });
    expect(loadState(db)).toEqual({ ...stateAt(3), wal: null });
    expect(readFileSync(statePath(db), 'utf8').trimEnd()).not.toContain('closedFile');
    // After close, the next save writes a new file.
    file.close();
    saveState(file, closed);
    expect(statSync(statePath(db)).ino).not.toBe(first.ino);
    expect(loadState(db)).toEqual(closed);
    // A file written whole, unpadded (as before records were padded), still loads.
    file.close();
    writeFileSync(statePath(db), JSON.stringify({ version: 1, seq: '9', checksum: 'a', pageSize: 1024, wal: null }));
    expect(loadState(db)).toEqual({ seq: 9n, checksum: 10n, pageSize: 1024, wal: null, closedFile: undefined });
  });

  it('a process SIGKILLed while saving in a loop leaves a whole record', async () => {
    const t = tempDir('state-kill');
    cleanups.push(t.cleanup);
    const db = join(t.dir, 'k.db');
    const src = join(workspaceRoot, 'packages/walstream/src');
    // Saves states 1, 2, 3, … as fast as it can; prints once the in-place writes are under way.
    const script = `
      import { RecordFile } from ${JSON.stringify(join(src, 'record-file.ts'))};
      import { saveState, statePath } from ${JSON.stringify(join(src, 'state.ts'))};
      const f = new RecordFile(statePath(${JSON.stringify(db)}));
      const at = (seq) => ({ seq: BigInt(seq), checksum: BigInt(seq) * 7n, pageSize: 4096,
        wal: seq % 2 ? null : { salt1: seq, salt2: seq * 2, index: seq * 1000003, cksum1: 1, cksum2: 2 },
        closedFile: seq % 3 ? undefined : { size: seq * 4096, mtimeMs: seq + 0.5 } });
      for (let seq = 1; ; seq++) { saveState(f, at(seq)); if (seq === 1000) console.log('saving'); }
    `;
    for (let round = 0; round < 5; round++) {
      const child = spawn(
        process.execPath,
        ['--conditions=hadb-source', '--import', 'tsx', '--input-type=module', '-e', script],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      cleanups.push(() => void child.kill('SIGKILL'));
      await new Promise<void>((resolve, reject) => {
        child.stdout!.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`child exited (${code}) before saving`)));
      });
      await new Promise((r) => setTimeout(r, 5 + round * 7));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const got = loadState(db);
      expect(got, readFileSync(statePath(db), 'utf8')).not.toBeNull();
      const seq = Number(got!.seq);
      expect(seq).toBeGreaterThanOrEqual(1000);
      expect(got!.checksum).toBe(BigInt(seq) * 7n);
      expect(got!.wal === null).toBe(seq % 2 === 1);
      expect(got!.closedFile === undefined).toBe(seq % 3 !== 0);
    }
  });
});
