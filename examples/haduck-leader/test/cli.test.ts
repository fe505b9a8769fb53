import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The example programs as a user runs them: `node --conditions=hadb-source --import tsx <main.ts>`
// from the repository root, each with a private TMPDIR so leftovers are visible.
const root = fileURLToPath(new URL('../../..', import.meta.url));
const programs = {
  'haduck-leader': join(root, 'examples/haduck-leader/src/main.ts'),
  'haduck-follower': join(root, 'examples/haduck-follower/src/main.ts'),
} as const;
const scratch = mkdtempSync(join(tmpdir(), 'haduck-cli-test-'));
const tmp = join(scratch, 'tmp');
const storageDir = join(scratch, 'storage');

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(program: keyof typeof programs, args: string[], env: Record<string, string> = {}) {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('HADUCK_') && !k.startsWith('VITEST')) clean[k] = v;
  rmSync(tmp, { recursive: true, force: true });
  spawnSync('mkdir', ['-p', tmp]);
  const r = spawnSync(process.execPath, ['--conditions=hadb-source', '--import', 'tsx', programs[program], ...args], {
    cwd: root,
    // The AWS SDK's multi-line Node 20 notice is not the program's output (see the root README).
    env: { ...clean, TMPDIR: tmp, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const events = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  // tsx keeps its compile cache in TMPDIR (tsx-<uid>); everything else is the program's.
  const leftovers = readdirSync(tmp).filter((f) => !f.startsWith('tsx-'));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, events, leftovers };
}

describe.each(Object.keys(programs) as (keyof typeof programs)[])('%s', { timeout: 120_000 }, (program) => {
  it('--help lists the commands and the variables, and exits 0', () => {
    const r = run(program, ['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`usage: ${program} [run]`);
    expect(r.stdout).toContain(`${program} insert <id> <text>`);
    expect(r.stdout).toContain(`${program} query [<sql>]`);
    for (const name of ['HADUCK_STORAGE', 'HADUCK_LEASE', 'HADUCK_TTL_MS', 'HADUCK_SECRET'])
      expect(r.stdout).toContain(name);
  });

  it.each([
    [{ HADUCK_TTL_MS: 'abc' }, [], `${program}: HADUCK_TTL_MS=abc: must be a non-negative number`],
    [{ HADUCK_TTL_MS: '10' }, [], `${program}: HADUCK_TTL_MS=10: must be at least 500`],
    [{}, ['--ttl-ms=-5'], `${program}: --ttl-ms -5: must be a non-negative number`],
    [{ HADUCK_LEASE: 'zookeeper:x' }, [], `${program}: HADUCK_LEASE=zookeeper:x: must be storage, nats:`],
    [{ HADUCK_STORAGE: 'ftp:x' }, [], `${program}: HADUCK_STORAGE=ftp:x: must be local:<dir> or s3:`],
    [{ HADUCK_LISTEN: 'nohost' }, [], `${program}: HADUCK_LISTEN=nohost: must be host:port`],
    [{ HADUCK_DURABILITY: 'eventually' }, [], `${program}: HADUCK_DURABILITY=eventually: must be shipped or committed`],
    [{}, ['insert', '1', 'x'], `${program}: insert needs storage that outlives this process: set HADUCK_STORAGE=`],
    [{}, ['--bogus'], `${program}: Unknown option '--bogus'`],
  ])('a bad setting %o %o is one line naming it, exit 2, nothing left behind', (env, args, line) => {
    const r = run(program, args, env);
    expect(r.status).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr.startsWith(line), r.stderr).toBe(true);
    expect(r.stdout).toBe('');
    expect(r.leftovers).toEqual([]);
  });

  it('names the variable when the storage named by it cannot be opened', () => {
    const r = run(program, ['query'], {
      HADUCK_STORAGE: 's3:no-such-bucket',
      HADUCK_S3_ENDPOINT: 'http://127.0.0.1:9',
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'y',
    });
    expect(r.status).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      new RegExp(`^${program}: HADUCK_STORAGE=s3:no-such-bucket: cannot open the storage: caused by: `),
    );
    expect(r.leftovers).toEqual([]);
  });
});

describe('insert and query a row of your choosing', { timeout: 120_000 }, () => {
  it('inserts through one program and reads it back through both, leaving no temporary directory', () => {
    const env = { HADUCK_STORAGE: `local:${storageDir}`, HADUCK_DB: 'notes' };
    const a = run('haduck-leader', ['insert', '7', 'first note'], env);
    expect(a.status, a.stderr).toBe(0);
    expect(a.events.find((e) => e.event === 'inserted')).toMatchObject({ id: '7', body: 'first note' });
    expect(a.leftovers).toEqual([]);

    const b = run('haduck-follower', ['insert', '3', 'second, from the follower program'], env);
    expect(b.status, b.stderr).toBe(0);
    expect(b.leftovers).toEqual([]);

    for (const program of ['haduck-leader', 'haduck-follower'] as const) {
      const q = run(program, ['query'], env);
      expect(q.status, q.stderr).toBe(0);
      expect(q.events.find((e) => e.event === 'rows')).toMatchObject({
        columns: ['id', 'body'],
        rows: [
          ['3', 'second, from the follower program'],
          ['7', 'first note'],
        ],
      });
      expect(q.leftovers).toEqual([]);
    }
    const count = run('haduck-leader', ['query', 'SELECT count(*) AS n FROM notes WHERE id > 5'], env);
    expect(count.events.find((e) => e.event === 'rows')).toMatchObject({ columns: ['n'], rows: [['1']] });

    const bad = run('haduck-leader', ['query', 'SELECT * FROM nope'], env);
    expect(bad.status).toBe(1);
    expect(bad.stderr.trimEnd().split('\n')).toHaveLength(1);
    // HADUCK_SQL, or HADB_HADUCK_SQL once the ha branch renames the codes.
    expect(bad.stderr).toMatch(/^haduck-leader: (HADB_)?HADUCK_SQL: .*nope/);
    expect(bad.leftovers).toEqual([]);
  });

  it('rejects a non-integer id before opening anything', () => {
    const r = run('haduck-leader', ['insert', 'x1', 'y'], { HADUCK_STORAGE: `local:${storageDir}` });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe('haduck-leader: insert: id x1 must be an integer');
  });
});
