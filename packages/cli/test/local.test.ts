import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalStorageBackend } from '@hadb/storage-local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, tempDir, writeDuckDatabase, type Step } from './fixtures.js';
import { hadb } from './harness.js';

let dir: string;
let cleanup: () => Promise<void>;
let url: string;
let steps: Step[];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('local'));
  const storage = await LocalStorageBackend.open({ root: join(dir, 'bucket') });
  try {
    steps = await writeDuckDatabase(storage, dir, 'app', { rounds: 6, snapshotsAfter: [3], gapMs: 1100 });
    await writeDuckDatabase(storage, dir, 'other', { rounds: 1 });
  } finally {
    await storage.close();
  }
  url = `file://${join(dir, 'bucket')}`;
}, 120_000);

afterAll(async () => {
  await cleanup();
});

describe('hadb ls', () => {
  it('lists the databases, as text and as JSON', async () => {
    const text = await hadb(['ls', '--storage', url]);
    expect(text.code).toBe(0);
    expect(text.stdout.trim().split('\n')).toEqual(['app', 'other']);
    const json = await hadb(['ls', '--json'], { HADB_STORAGE: url });
    expect(JSON.parse(json.stdout)).toEqual({ databases: ['app', 'other'] });
  });

  it("lists one database's snapshots and segments with seq, size, epoch and time", async () => {
    const r = await hadb(['ls', 'app', '--json', '-s', url]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      engine: string;
      objects: { type: string; seq: string; size: number; epoch: string | null; created: string }[];
    };
    expect(out.engine).toBe('duckblock');
    const snapshots = out.objects.filter((o) => o.type === 'snapshot').map((o) => o.seq);
    const incrementals = out.objects.filter((o) => o.type === 'incremental').map((o) => o.seq);
    expect(snapshots).toEqual(['1', steps[3]!.seq.toString()]);
    expect(incrementals).toEqual(steps.map((s) => s.seq.toString()));
    for (const o of out.objects) {
      expect(o.epoch).toBe('1');
      expect(o.size).toBeGreaterThan(40);
      expect(Math.abs(Date.parse(o.created) - Date.now())).toBeLessThan(600_000);
    }
    const table = await hadb(['ls', 'app', '-s', url]);
    expect(table.stdout).toMatch(/^TYPE\s+SEQ\s+SIZE\s+EPOCH\s+CREATED\s+KEY$/m);
    expect(table.stdout).toContain('app/0001/0000000000000001.hadbp');
  });

  it('exits 4 for a storage directory that does not exist, and does not create it', async () => {
    const missing = join(dir, 'no-such-bucket');
    const r = await hadb(['ls', '-s', `file://${missing}`]);
    expect(r.code).toBe(4);
    expect(r.stderr.trim()).toBe(`hadb: storage directory ${missing} is not accessible (ENOENT)`);
    expect(existsSync(missing)).toBe(false);
  });

  it('exits 3 for a database that is not in storage', async () => {
    const r = await hadb(['ls', 'nope', '-s', url]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe('hadb: no database "nope" in storage (hadb ls lists them)');
  });

  it('exits 2 without storage, with an unknown scheme, and on a usage error', async () => {
    const none = await hadb(['ls']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no storage given');
    const scheme = await hadb(['ls', '-s', 'gs://bucket']);
    expect(scheme.code).toBe(2);
    expect(scheme.stderr).toContain('unsupported storage URL scheme "gs"');
    const unknown = await hadb(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe("hadb: unknown command 'frobnicate' (hadb --help for usage)");
    const bad = await hadb(['restore', 'app', join(dir, 'x.duckdb'), '--parallel', 'zero', '-s', url]);
    expect(bad.code).toBe(2);
  });

  it('exits 2 with the install line when a backend package is missing', async () => {
    const hide = new URL('./fixtures/hide-package.mjs', import.meta.url).pathname;
    const r = await hadb(
      ['ls', '-s', 's3://bucket/p?endpoint=http://127.0.0.1:1'],
      { HADB_TEST_HIDE_PACKAGE: '@hadb/storage-s3' },
      ['--import', hide],
    );
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'hadb: backend package @hadb/storage-s3 is not installed; install it with: npm install @hadb/storage-s3',
    );
    // The other backends still load.
    const local = await hadb(['ls', '-s', url], { HADB_TEST_HIDE_PACKAGE: '@hadb/storage-s3' }, ['--import', hide]);
    expect(local.code, local.stderr).toBe(0);
  });

  it('prints help and version with exit 0', async () => {
    const help = await hadb(['--help']);
    expect(help.code).toBe(0);
    for (const verb of ['ls', 'verify', 'restore', 'follow', 'compact', 'lease', 'status', 'explain'])
      expect(help.stdout).toContain(verb);
    const version = await hadb(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(
      JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')).version,
    );
  });
});

describe('hadb restore', () => {
  it('restores the newest state by default and an exact seq with --seq', async () => {
    const latest = join(dir, 'latest.duckdb');
    const r = await hadb(['restore', 'app', latest, '-s', url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`to seq ${steps.at(-1)!.seq}`);
    expect(await countRows(latest)).toBe(steps.at(-1)!.rows);
    for (const step of [steps[2]!, steps[4]!]) {
      const path = join(dir, `seq-${step.seq}.duckdb`);
      const s = await hadb(['restore', 'app', path, '--seq', step.seq.toString(), '-s', url, '--json']);
      expect(s.code, s.stderr).toBe(0);
      expect(JSON.parse(s.stdout).seq).toBe(step.seq.toString());
      expect(await countRows(path)).toBe(step.rows);
    }
    // Only the database file is left: no staging file, position or journal.
    expect((await readdir(dir)).filter((f) => f.startsWith('latest.duckdb'))).toEqual(['latest.duckdb']);
  });

  it('restores the state at a given second with --time', async () => {
    const target = steps[4]!;
    const next = steps[5]!;
    // A second between this step's upload and the next one's (the fixture waits > 1 s between steps).
    const at = new Date(Math.ceil((target.shippedMs + 1) / 1000) * 1000);
    expect(at.getTime()).toBeLessThan(next.shippedMs - 50);
    const path = join(dir, 'by-time.duckdb');
    const r = await hadb(['restore', 'app', path, '--time', at.toISOString().replace('.000Z', 'Z'), '-s', url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`to seq ${target.seq}`);
    expect(await countRows(path)).toBe(target.rows);
  });

  it('exits 6 when nothing was stored at the time, or the file exists; 0 with --if-not-exists', async () => {
    const early = await hadb([
      'restore',
      'app',
      join(dir, 'early.duckdb'),
      '--time',
      '2001-01-01T00:00:00Z',
      '-s',
      url,
    ]);
    expect(early.code).toBe(6);
    expect(early.stderr).toMatch(/^hadb: nothing stored at or before 2001-01-01T00:00:00Z/);
    const path = join(dir, 'exists.duckdb');
    await writeFile(path, 'keep me');
    const refused = await hadb(['restore', 'app', path, '-s', url]);
    expect(refused.code).toBe(6);
    const skipped = await hadb(['restore', 'app', path, '--if-not-exists', '-s', url]);
    expect(skipped.code).toBe(0);
    expect(await readFile(path, 'utf8')).toBe('keep me');
    const beyond = await hadb(['restore', 'app', join(dir, 'beyond.duckdb'), '--seq', '999', '-s', url]);
    expect(beyond.code).toBe(6);
    expect(existsSync(join(dir, 'beyond.duckdb'))).toBe(false);
  });

  it('exits 2 on bad --seq/--time and when both are given', async () => {
    const p = join(dir, 'never.duckdb');
    expect((await hadb(['restore', 'app', p, '--seq', 'x', '-s', url])).code).toBe(2);
    expect((await hadb(['restore', 'app', p, '--time', 'yesterday', '-s', url])).code).toBe(2);
    expect((await hadb(['restore', 'app', p, '--seq', '2', '--time', '2026-01-01T00:00:00Z', '-s', url])).code).toBe(2);
  });
});
