import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './fixtures.js';
import { finished, hadb, spawnHadb } from './harness.js';

/** Runs SQL through the Debian `sqlite3` CLI: a separate writer process, as in production. */
function sqlite(path: string, sql: string): string {
  return execFileSync('sqlite3', ['-cmd', '.timeout 10000', path, sql], { encoding: 'utf8' }).trim();
}

async function until(pred: () => boolean, what: () => string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let dir: string;
let cleanup: () => Promise<void>;
let bucket: string;
let url: string;
/** Row counts after each batch and a second between the batch's commit and the next batch. */
const batches: { rows: number; between: string }[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('sqlite'));
  bucket = join(dir, 'bucket');
  url = `file://${bucket}`;
}, 60_000);

afterAll(async () => {
  await cleanup();
});

describe('hadb replicate (sidecar daemon) with the sqlite3 CLI as the writer', () => {
  it('replicates every commit, ships the last ones on SIGTERM and exits 0', async () => {
    const app = join(dir, 'app.db');
    const other = join(dir, 'other.db');
    sqlite(app, 'PRAGMA journal_mode=WAL; CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);');
    sqlite(other, 'PRAGMA journal_mode=WAL; CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT);');
    const config = join(dir, 'hadb.yml');
    await writeFile(
      config,
      [
        'dbs:',
        '  - path: ${DATA}/app.db',
        '    name: app',
        '    sync-interval: 50ms',
        '    snapshot-interval: 24h',
        '    replicas:',
        '      - type: file',
        '        path: ${BUCKET}',
        '  - path: ${DATA}/other.db',
        '    sync-interval: 1h',
        '    replicas:',
        '      - url: file://${BUCKET}',
        '',
      ].join('\n'),
    );
    const child = spawnHadb(['replicate', '--config', config], { DATA: dir, BUCKET: bucket });
    const done = finished(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await until(
      () => out.includes('ready: replicating 2 databases'),
      () => out,
    );
    let rows = 0;
    for (let b = 0; b < 3; b++) {
      const shippedBefore = (out.match(/^app: shipped seq/gm) ?? []).length;
      for (let i = 0; i < 5; i++)
        sqlite(app, `INSERT INTO notes (body) VALUES ('batch ${b} note ${i} ' || hex(randomblob(200)));`);
      rows += 5;
      const committed = Date.now();
      await until(
        () => (out.match(/^app: shipped seq/gm) ?? []).length > shippedBefore,
        () => out,
      );
      // Two seconds after the commit, the batch is long shipped (sync every 50 ms); the last whole
      // second before now lies between this batch's changesets and the next batch.
      await new Promise((r) => setTimeout(r, Math.max(0, committed + 2000 - Date.now())));
      batches.push({
        rows,
        between: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
      });
    }
    sqlite(other, "INSERT INTO kv VALUES ('a', '1');");
    // other.db syncs hourly: only the final sync on SIGTERM can ship this commit.
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    expect(out).toContain('stopping: final sync');
    expect(out).toMatch(/^stopped: app at seq \d+, other\.db at seq \d+$/m);
    const restored = join(dir, 'other-restored.db');
    const res = await hadb(['restore', 'other.db', restored, '-s', url]);
    expect(res.code, res.stderr).toBe(0);
    expect(sqlite(restored, 'SELECT k, v FROM kv')).toBe('a|1');
  }, 120_000);

  it('lists, verifies and restores the latest state and the state at a given second', async () => {
    const ls = JSON.parse((await hadb(['ls', 'app', '--json', '-s', url])).stdout);
    expect(ls.engine).toBe('sqlite');
    expect(ls.objects.filter((o: { type: string }) => o.type === 'incremental').length).toBeGreaterThanOrEqual(3);
    const verify = await hadb(['verify', 'app', '-s', url]);
    expect(verify.code, verify.stderr).toBe(0);
    const latest = join(dir, 'latest.db');
    const r = await hadb(['restore', 'app', latest, '--integrity-check', 'full', '-s', url]);
    expect(r.code, r.stderr).toBe(0);
    expect(sqlite(latest, 'SELECT count(*) FROM notes')).toBe('15');
    expect(sqlite(latest, 'PRAGMA integrity_check')).toBe('ok');
    const atSecond = join(dir, 'second.db');
    const t = await hadb(['restore', 'app', atSecond, '--time', batches[1]!.between, '-s', url]);
    expect(t.code, t.stderr).toBe(0);
    expect(sqlite(atSecond, 'SELECT count(*) FROM notes')).toBe(String(batches[1]!.rows));
    const bad = await hadb(['restore', 'app', join(dir, 'x.db'), '--integrity-check', 'sometimes', '-s', url]);
    expect(bad.code).toBe(2);
    const beyond = await hadb(['restore', 'app', join(dir, 'y.db'), '--seq', '99999', '-s', url]);
    expect(beyond.code).toBe(6);
  });

  it('snapshot stores a full snapshot; follow keeps a replica until SIGTERM', async () => {
    const app = join(dir, 'app.db');
    sqlite(app, "INSERT INTO notes (body) VALUES ('after the daemon');");
    const snap = await hadb(['snapshot', app, '--name', 'app', '--json', '-s', url]);
    expect(snap.code, snap.stderr).toBe(0);
    const seq = JSON.parse(snap.stdout).seq as string;
    const ls = JSON.parse((await hadb(['ls', 'app', '--json', '-s', url])).stdout);
    expect(ls.objects.some((o: { type: string; seq: string }) => o.type === 'snapshot' && o.seq === seq)).toBe(true);
    expect((await hadb(['snapshot', join(dir, 'missing.db'), '-s', url])).code).toBe(3);

    const replica = join(dir, 'replica.db');
    const child = spawnHadb(['follow', 'app', replica, '--interval', '100', '-s', url]);
    const done = finished(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await until(
      () => out.includes(`at seq ${seq}`),
      () => out,
    );
    expect(sqlite(replica, 'SELECT count(*) FROM notes')).toBe('16');
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`stopped following at seq ${seq}`);
  }, 60_000);

  it('applies the configured GFS retention on its timer', async () => {
    const db = join(dir, 'retained.db');
    sqlite(db, 'PRAGMA journal_mode=WAL; CREATE TABLE r (v TEXT);');
    const config = join(dir, 'retention.yml');
    await writeFile(
      config,
      [
        'dbs:',
        `  - path: ${db}`,
        '    name: retained',
        '    sync-interval: 50ms',
        '    snapshot-interval: 300ms',
        '    retention: { hourly: 0, daily: 0, weekly: 0, monthly: 0 }',
        '    retention-interval: 400ms',
        '    replicas:',
        `      - url: ${url}`,
        '',
      ].join('\n'),
    );
    const child = spawnHadb(['replicate', '-c', config]);
    const done = finished(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await until(
      () => out.includes('ready:'),
      () => out,
    );
    let n = 0;
    // A run may first delete only the lineage claim at the oldest kept snapshot's sequence (an
    // incremental under it): wait until a run removed the first snapshot as well.
    const first = join(bucket, 'retained', '0001', '0000000000000001.hadbp');
    while (!/^retained: retention deleted \d+ objects$/m.test(out) || existsSync(first)) {
      sqlite(db, `INSERT INTO r VALUES ('row ${n++}');`);
      await new Promise((r) => setTimeout(r, 150));
      if (n > 200) throw new Error(`no retention after ${n} commits: ${out}`);
    }
    child.kill('SIGTERM');
    expect((await done).code).toBe(0);
    const ls = JSON.parse((await hadb(['ls', 'retained', '--json', '-s', url])).stdout);
    const snapshots = ls.objects.filter((o: { type: string }) => o.type === 'snapshot');
    // Every tier at 0: the planner keeps the newest two snapshots (and a snapshot taken after the last run).
    expect(snapshots.length).toBeLessThanOrEqual(3);
    expect(
      ls.objects.some((o: { type: string; key: string }) => o.key === 'retained/0001/0000000000000001.hadbp'),
    ).toBe(false);
    expect((await hadb(['verify', 'retained', '-s', url])).code).toBe(0);
    const path = join(dir, 'retained-restored.db');
    expect((await hadb(['restore', 'retained', path, '-s', url])).code).toBe(0);
    expect(Number(sqlite(path, 'SELECT count(*) FROM r'))).toBe(n);
  }, 60_000);

  it('exits 2 on a config the daemon cannot run', async () => {
    const config = join(dir, 'bad.yml');
    await writeFile(
      config,
      `dbs:\n  - path: ${join(dir, 'app.db')}\n    replicas:\n      - url: ${url}\n      - url: ${url}2\n`,
    );
    const two = await hadb(['replicate', '-c', config]);
    expect(two.code).toBe(2);
    expect(two.stderr).toContain('exactly one replica per database');
    await writeFile(
      config,
      `dbs:\n  - path: ${join(dir, 'app.db')}\n    sync-interval: soon\n    replicas:\n      - url: ${url}\n`,
    );
    expect((await hadb(['replicate', '-c', config])).stderr).toContain('sync-interval must be a duration');
    await writeFile(config, `dbs:\n  - path: ${join(dir, 'absent.db')}\n    replicas:\n      - url: ${url}\n`);
    const absent = await hadb(['replicate', '-c', config]);
    expect(absent.code).toBe(3);
    expect(absent.stderr.trim()).toBe(`hadb: absent.db: ${join(dir, 'absent.db')} does not exist`);
    const none = await hadb(['replicate']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('needs a config file');
  });
});

describe('age-encrypted replicas', () => {
  it('replicates with age-recipients/age-identities, reads back only with the identity', async () => {
    const keyFile = join(dir, 'age.key');
    execFileSync('age-keygen', ['-o', keyFile], { stdio: 'ignore' });
    const recipient = /public key: (age1\S+)/.exec(await readFile(keyFile, 'utf8'))![1]!;
    const secret = /(AGE-SECRET-KEY-\S+)/.exec(await readFile(keyFile, 'utf8'))![1]!;
    const db = join(dir, 'secret.db');
    sqlite(db, "PRAGMA journal_mode=WAL; CREATE TABLE s (v TEXT); INSERT INTO s VALUES ('canary-7d1f');");
    const encBucket = join(dir, 'enc-bucket');
    const config = join(dir, 'age.yml');
    await writeFile(
      config,
      `dbs:\n  - path: ${db}\n    name: secret\n    sync-interval: 50ms\n    replicas:\n      - url: file://${encBucket}\n        age-recipients: [${recipient}]\n        age-identities: [${keyFile}]\n`,
    );
    const explain = await hadb(['explain', '-c', config]);
    expect(explain.code, explain.stderr).toBe(0);
    expect(explain.stdout).toContain(`${keyFile} (identity file)`);
    expect(explain.stdout).not.toContain(secret);
    const child = spawnHadb(['replicate', '-c', config]);
    const done = finished(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await until(
      () => out.includes('ready:'),
      () => out,
    );
    sqlite(db, "INSERT INTO s VALUES ('second');");
    await until(
      () => out.includes('secret: shipped seq'),
      () => out,
    );
    child.kill('SIGTERM');
    expect((await done).code).toBe(0);
    // Nothing in the bucket holds the plaintext.
    const files = execFileSync('find', [encBucket, '-type', 'f'], { encoding: 'utf8' }).trim().split('\n');
    for (const f of files) expect((await readFile(f)).includes('canary-7d1f')).toBe(false);
    const without = await hadb(['restore', 'secret', join(dir, 'no-key.db'), '-s', `file://${encBucket}`]);
    expect(without.code).toBe(2);
    expect(without.stderr).toContain('age-encrypted; pass --age-identity');
    const path = join(dir, 'with-key.db');
    const withKey = await hadb(['restore', 'secret', path, '-s', `file://${encBucket}`, '--age-identity', keyFile]);
    expect(withKey.code, withKey.stderr).toBe(0);
    expect(sqlite(path, 'SELECT v FROM s ORDER BY rowid')).toBe('canary-7d1f\nsecond');
    const otherKey = join(dir, 'other.key');
    execFileSync('age-keygen', ['-o', otherKey], { stdio: 'ignore' });
    const wrong = await hadb([
      'restore',
      'secret',
      join(dir, 'wrong-key.db'),
      '-s',
      `file://${encBucket}`,
      '--age-identity',
      otherKey,
    ]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrong.stdout + wrong.stderr).not.toMatch(/AGE-SECRET-KEY-1/);
    const viaEnv = await hadb(['verify', 'secret', '-s', `file://${encBucket}`], { HADB_AGE_IDENTITY_FILE: keyFile });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    expect(existsSync(join(dir, 'no-key.db'))).toBe(false);
  }, 60_000);
});
