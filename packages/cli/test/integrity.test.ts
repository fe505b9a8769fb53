import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalStorageBackend } from '@hadb/storage-local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, tempDir, writeDuckDatabase, type Step } from './fixtures.js';
import { hadb } from './harness.js';

let dir: string;
let cleanup: () => Promise<void>;
let pristine: string;
let steps: Step[];
let n = 0;

/** A private copy of the stored database, so each test may damage its own. */
async function bucketCopy(): Promise<{ root: string; url: string }> {
  const root = join(dir, `bucket-${n++}`);
  await cp(pristine, root, { recursive: true });
  return { root, url: `file://${root}` };
}

function key(generation: number, seq: bigint): string {
  return `app/${generation.toString(16).padStart(4, '0')}/${seq.toString(16).padStart(16, '0')}.hadbp`;
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('integrity'));
  pristine = join(dir, 'pristine');
  const storage = await LocalStorageBackend.open({ root: pristine });
  try {
    steps = await writeDuckDatabase(storage, dir, 'app', { rounds: 5, snapshotsAfter: [2, 4] });
  } finally {
    await storage.close();
  }
}, 120_000);

afterAll(async () => {
  await cleanup();
});

describe('hadb verify', () => {
  it('passes an intact database (exit 0)', async () => {
    const { url } = await bucketCopy();
    const r = await hadb(['verify', 'app', '-s', url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`^app: OK, 9 objects \\(.+\\) verified; restorable up to seq ${steps.at(-1)!.seq}$`, 'm'),
    );
  });

  it('exits 5 naming the first bad object when one byte of a segment flips', async () => {
    const { root, url } = await bucketCopy();
    const bad = key(0, steps[3]!.seq);
    const bytes = await readFile(join(root, bad));
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
    await writeFile(join(root, bad), bytes);
    const r = await hadb(['verify', 'app', '-s', url]);
    expect(r.code).toBe(5);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`hadb: app: integrity check failed at ${bad}: HADB_CHANGESET_CHECKSUM_MISMATCH`);
    expect(r.stdout).toContain(`BAD  ${bad}`);
    const json = await hadb(['verify', 'app', '--json', '-s', url]);
    expect(json.code).toBe(5);
    expect(JSON.parse(json.stdout).problems[0].key).toBe(bad);
  });

  it('exits 5 on a gap no snapshot bridges, and on a truncated snapshot', async () => {
    const { root, url } = await bucketCopy();
    await rm(join(root, key(0, steps[1]!.seq)));
    const gap = await hadb(['verify', 'app', '-s', url]);
    expect(gap.code).toBe(5);
    expect(gap.stderr).toContain(
      `failed at ${key(0, steps[2]!.seq)}: gap: seq ${steps[1]!.seq}..${steps[1]!.seq} missing`,
    );

    const second = await bucketCopy();
    const snap = key(1, steps[4]!.seq);
    const bytes = await readFile(join(second.root, snap));
    await writeFile(join(second.root, snap), bytes.subarray(0, bytes.length - 5000));
    const cut = await hadb(['verify', 'app', '-s', second.url]);
    expect(cut.code).toBe(5);
    expect(cut.stderr).toContain(`failed at ${snap}: HADB_CHANGESET_TRUNCATED`);
  });

  it('a restore through a corrupt segment exits 5 and leaves no file behind', async () => {
    const { root, url } = await bucketCopy();
    const bad = key(0, steps[5]!.seq);
    const bytes = await readFile(join(root, bad));
    bytes[60] = bytes[60]! ^ 0x01;
    await writeFile(join(root, bad), bytes);
    const path = join(dir, 'through-bad.duckdb');
    const r = await hadb(['restore', 'app', path, '-s', url]);
    expect(r.code).toBe(5);
    await expect(readFile(path)).rejects.toThrow(/ENOENT/);
  });
});

describe('hadb compact', () => {
  it('plans grandfather-father-son retention without deleting, then deletes with --force', async () => {
    const { url } = await bucketCopy();
    const before = JSON.parse((await hadb(['ls', 'app', '--json', '-s', url])).stdout).objects.length;
    // All snapshots were written within the same hour: hourly 1 keeps the newest, and the planner
    // always keeps the newest two; segments at or below the oldest kept snapshot go.
    const tiers = ['--hourly', '1', '--daily', '0', '--weekly', '0', '--monthly', '0'];
    const dry = await hadb(['compact', 'app', ...tiers, '--json', '-s', url]);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout);
    expect(plan.dryRun).toBe(true);
    expect(plan.keep.map((k: { seq: string; reasons: string[] }) => [k.seq, k.reasons])).toEqual([
      [steps[2]!.seq.toString(), ['min-keep']],
      [steps[4]!.seq.toString(), ['newest', 'hourly']],
    ]);
    expect(plan.deleteSnapshots).toEqual([key(1, 1n)]);
    expect(plan.deleteSegments).toEqual(steps.slice(0, 3).map((s) => key(0, s.seq)));
    expect(JSON.parse((await hadb(['ls', 'app', '--json', '-s', url])).stdout).objects.length).toBe(before);
    const text = await hadb(['compact', 'app', ...tiers, '-s', url]);
    expect(text.stdout).toContain('would delete 1 snapshots and 3 segments');
    expect(text.stdout).toContain('dry run: nothing deleted');

    const forced = await hadb(['compact', 'app', ...tiers, '--force', '-s', url]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain('deleted 1 snapshots and 3 segments');
    const after = JSON.parse((await hadb(['ls', 'app', '--json', '-s', url])).stdout).objects;
    expect(after.map((o: { key: string }) => o.key)).toEqual([
      ...steps.slice(3).map((s) => key(0, s.seq)),
      key(1, steps[2]!.seq),
      key(1, steps[4]!.seq),
    ]);
    // What is left still verifies and restores to the head.
    expect((await hadb(['verify', 'app', '-s', url])).code).toBe(0);
    const path = join(dir, 'after-compact.duckdb');
    expect((await hadb(['restore', 'app', path, '-s', url])).code).toBe(0);
    expect(await countRows(path)).toBe(steps.at(-1)!.rows);
  });

  it('uses the config file retention, then the default; flags override both', async () => {
    const { url } = await bucketCopy();
    const r = await hadb(['compact', 'app', '--json', '-s', url]);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.retention).toEqual({ hourly: 24, daily: 7, weekly: 12, monthly: 12 });
    // One snapshot per period: the three snapshots share an hour, so the newest stands for every tier.
    expect(plan.keep.at(-1)).toEqual(
      expect.objectContaining({
        seq: steps[4]!.seq.toString(),
        reasons: ['newest', 'hourly', 'daily', 'weekly', 'monthly'],
      }),
    );
    expect(plan.deleteSnapshots).toEqual([key(1, 1n)]);
    const config = join(dir, 'retention.yml');
    await writeFile(config, 'storage: ${BUCKET_URL}\nretention:\n  hourly: 0\n  daily: ${DAILY:-3}\n');
    const fromFile = await hadb(['compact', 'app', '--json', '--weekly', '2', '-c', config], { BUCKET_URL: url });
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(JSON.parse(fromFile.stdout).retention).toEqual({ hourly: 0, daily: 3, weekly: 2, monthly: 12 });
  });
});
