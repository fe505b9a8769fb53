import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// graph-ha's command line as a user runs it, with a private TMPDIR so leftovers are visible.
const root = fileURLToPath(new URL('../../..', import.meta.url));
const main = join(root, 'examples/graph-ha/src/main.ts');
const scratch = mkdtempSync(join(tmpdir(), 'graph-ha-cli-test-'));
const tmp = join(scratch, 'tmp');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}) {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('GRAPH_HA_') && !k.startsWith('VITEST')) clean[k] = v;
  // A fresh TMPDIR per run, except tsx's compile cache: recompiling every run is slow under load.
  mkdirSync(tmp, { recursive: true });
  for (const f of readdirSync(tmp)) if (!f.startsWith('tsx-')) rmSync(join(tmp, f), { recursive: true, force: true });
  const r = spawnSync(process.execPath, ['--conditions=hadb-source', '--import', 'tsx', main, ...args], {
    cwd: root,
    env: { ...clean, TMPDIR: tmp, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const events = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string; rows: unknown[] });
  // tsx keeps its compile cache in TMPDIR (tsx-<uid>); everything else is the program's.
  const leftovers = readdirSync(tmp).filter((f) => !f.startsWith('tsx-'));
  // What ended the run, for assertion messages: a timeout or a signal leaves `status` null.
  const how = `status ${r.status}, signal ${r.signal}${r.error ? `, ${r.error.message}` : ''}; stderr: ${r.stderr.slice(-2000)}`;
  return { ...r, events, leftovers, how };
}

describe('graph-ha command line', { timeout: 120_000 }, () => {
  it('--help explains the commands and GRAPH_HA_STORAGE', () => {
    const r = run(['--help']);
    expect(r.status, r.how).toBe(0);
    for (const s of ['graph-ha insert <name> <age>', 'graph-ha query [<cypher>]', 'GRAPH_HA_STORAGE=local:<dir>'])
      expect(r.stdout).toContain(s);
  });

  it.each([
    [
      ['insert', 'Ada', '36'],
      {},
      'graph-ha: insert needs storage that outlives this process: set GRAPH_HA_STORAGE=local:<dir>',
    ],
    [['query'], { GRAPH_HA_STORAGE: 's3:bucket' }, 'graph-ha: GRAPH_HA_STORAGE=s3:bucket: must be local:<dir>'],
    [
      ['insert', 'Ada', 'old'],
      { GRAPH_HA_STORAGE: 'local:/nonexistent' },
      'graph-ha: insert: age old must be a whole number below 1000',
    ],
    [['--bogus'], {}, 'graph-ha: unknown option --bogus (see --help)'],
    [['frobnicate'], {}, 'graph-ha: unknown command frobnicate: use demo, insert or query (see --help)'],
  ])('%o %o is one line naming the mistake, exit 2', (args, env, line) => {
    const r = run(args, env);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(line);
    expect(r.leftovers).toEqual([]);
  });

  it('inserts rows of your choosing and queries them back in later runs, leaving no temporary directory', () => {
    const env = { GRAPH_HA_STORAGE: `local:${join(scratch, 'storage')}` };
    for (const [name, age] of [
      ['Ada', '36'],
      ['Alan', '41'],
      ['Ada', '37'],
    ] as const) {
      const r = run(['insert', name, age], env);
      expect(r.status, r.how).toBe(0);
      expect(r.events[0]).toEqual({ event: 'inserted', rows: [{ name, age: Number(age) }] });
      expect(r.leftovers).toEqual([]);
    }
    const q = run(['query'], env);
    expect(q.status, q.how).toBe(0);
    expect(q.events[0]).toEqual({
      event: 'rows',
      rows: [
        { name: 'Ada', age: 37 },
        { name: 'Alan', age: 41 },
      ],
    });
    const n = run(['query', 'MATCH (p:Person) WHERE p.age > 40 RETURN p.name AS name'], env);
    expect(n.events[0]).toEqual({ event: 'rows', rows: [{ name: 'Alan' }] });
    const bad = run(['query', 'MATCH (x:Nope) RETURN x'], env);
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^graph-ha: .*Nope/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.leftovers).toEqual([]);
  });
});
