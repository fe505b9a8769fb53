import { join } from 'node:path';
import { S3StorageBackend } from '@hadb/storage-s3';
import { testService } from '@hadb/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, tempDir, writeDuckDatabase, type Step } from './fixtures.js';
import { hadb, type Result } from './harness.js';

const s3 = testService('s3');
const env = s3.env;
const prefix = `hadb-cli-test/${process.pid}-${Date.now().toString(36)}/`;
let dir: string;
let cleanup: () => Promise<void>;
let storage: S3StorageBackend;
let steps: Step[];

function url(p = prefix): string {
  const q = new URLSearchParams({ endpoint: env.HADB_TEST_S3_ENDPOINT ?? '' });
  if (env.HADB_TEST_S3_UNQUOTED_IF_MATCH === '1') q.set('unquoted-if-match', 'true');
  return `s3://${env.HADB_TEST_S3_BUCKET}/${p}?${q}`;
}

const creds = (): NodeJS.ProcessEnv => ({
  AWS_ACCESS_KEY_ID: env.HADB_TEST_S3_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY: env.HADB_TEST_S3_SECRET_ACCESS_KEY,
  AWS_REGION: env.HADB_TEST_S3_REGION ?? 'us-east-1',
});

function noSecret(r: Result): void {
  expect(r.stdout + r.stderr).not.toContain(env.HADB_TEST_S3_SECRET_ACCESS_KEY!);
}

describe.skipIf(!s3.available)('against the S3 server', () => {
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('s3'));
    storage = await S3StorageBackend.open({
      bucket: env.HADB_TEST_S3_BUCKET!,
      prefix,
      endpoint: env.HADB_TEST_S3_ENDPOINT,
      region: env.HADB_TEST_S3_REGION ?? 'us-east-1',
      unquotedIfMatch: env.HADB_TEST_S3_UNQUOTED_IF_MATCH === '1',
      credentials: {
        accessKeyId: env.HADB_TEST_S3_ACCESS_KEY_ID!,
        secretAccessKey: env.HADB_TEST_S3_SECRET_ACCESS_KEY!,
      },
    });
    steps = await writeDuckDatabase(storage, dir, 'app', { rounds: 4, snapshotsAfter: [2], gapMs: 1100 });
  }, 120_000);

  afterAll(async () => {
    if (storage !== undefined) {
      await storage.deleteMany(await storage.list(''));
      await storage.close();
    }
    await cleanup?.();
  });

  it('lists, verifies and restores to a second with credentials from the AWS variables', async () => {
    const list = await hadb(['ls', '-s', url()], creds());
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.trim()).toBe('app');
    const verify = await hadb(['verify', 'app', '-s', url()], creds());
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toContain(`restorable up to seq ${steps.at(-1)!.seq}`);
    const target = steps[2]!;
    const at = new Date(Math.ceil((target.shippedMs + 1) / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    const path = join(dir, 'from-s3.duckdb');
    const restore = await hadb(['restore', 'app', path, '--time', at, '-s', url()], creds());
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toContain(`to seq ${target.seq}`);
    expect(await countRows(path)).toBe(target.rows);
    for (const r of [list, verify, restore]) noSecret(r);
  });

  it('exits 4 on refused credentials and on a missing bucket, in one line without the secret', async () => {
    const wrong = await hadb(['ls', '-s', url()], { ...creds(), AWS_SECRET_ACCESS_KEY: 'wrong-secret-value-0000' });
    expect(wrong.code).toBe(4);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrong.stderr).not.toContain('wrong-secret-value-0000');
    const bucket = await hadb(
      ['ls', '-s', url().replace(`s3://${env.HADB_TEST_S3_BUCKET}/`, 's3://hadb-no-such-bucket-x/')],
      creds(),
    );
    expect(bucket.code).toBe(4);
    expect(bucket.stderr).toContain('hadb-no-such-bucket-x');
    noSecret(bucket);
  });
});
