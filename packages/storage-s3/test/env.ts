import { afterEach } from 'vitest';
import { DeleteBucketPolicyCommand, ListObjectsV2Command, DeleteObjectsCommand, S3Client } from '@aws-sdk/client-s3';
import { testService } from '@hadb/testkit';
import { S3StorageBackend, type S3StorageOptions } from '../src/index.js';

/** The real S3 server from scripts/services/ceph-s3.sh (loud skip locally, failure under CI=true). */
export const service = testService('s3');
const env = service.env;

/** Connection options from the environment (meaningful only when `service.available`). */
export function connection(): Pick<
  S3StorageOptions,
  'bucket' | 'endpoint' | 'region' | 'credentials' | 'unquotedIfMatch'
> {
  return {
    bucket: env.HADB_TEST_S3_BUCKET ?? '',
    endpoint: env.HADB_TEST_S3_ENDPOINT,
    region: process.env.HADB_TEST_S3_REGION ?? 'us-east-1',
    credentials: {
      accessKeyId: env.HADB_TEST_S3_ACCESS_KEY_ID ?? '',
      secretAccessKey: env.HADB_TEST_S3_SECRET_ACCESS_KEY ?? '',
    },
    unquotedIfMatch: process.env.HADB_TEST_S3_UNQUOTED_IF_MATCH === '1',
  };
}

/** Short, unique per test run (keys may be up to 1024 bytes including the prefix). */
const RUN = Math.random().toString(36).slice(2, 8);
let counter = 0;

/** A fresh namespace: `<run>/<n>/`. */
export function uniquePrefix(): string {
  counter += 1;
  return `${RUN}/${counter}/`;
}

/** A backend over a fresh namespace, connected to the test server. */
export function freshStorage(overrides: Partial<S3StorageOptions> = {}): S3StorageBackend {
  return new S3StorageBackend({
    ...connection(),
    prefix: uniquePrefix(),
    retry: { baseDelayMs: 5, maxDelayMs: 50 },
    ...overrides,
  });
}

/** A raw SDK client for the test server (assertions that bypass the backend). */
export function rawClient(): S3Client {
  const c = connection();
  return new S3Client({
    endpoint: c.endpoint,
    region: c.region,
    credentials: c.credentials,
    forcePathStyle: true,
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Deletes every object under a full prefix (cleanup after a test). */
export async function removePrefix(prefix: string): Promise<void> {
  const client = rawClient();
  const Bucket = connection().bucket;
  try {
    for (;;) {
      const out = await client.send(new ListObjectsV2Command({ Bucket, Prefix: prefix, MaxKeys: 1000 }));
      const keys = (out.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{ Key: o.Key }]));
      if (keys.length === 0) return;
      await client.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys, Quiet: true } }));
    }
  } finally {
    client.destroy();
  }
}

/** Removes a bucket policy a test installed. */
export async function clearBucketPolicy(): Promise<void> {
  const client = rawClient();
  try {
    await client.send(new DeleteBucketPolicyCommand({ Bucket: connection().bucket }));
  } finally {
    client.destroy();
  }
}

/**
 * `make(overrides)` gives a fresh backend under a unique prefix; `afterEach` closes every one and
 * removes its objects. Call inside a `describe`.
 */
export function freshStorages(): ((overrides?: Partial<S3StorageOptions>) => S3StorageBackend) & {
  /** Closes and cleans up `s` too (for backends built another way). */
  track(s: S3StorageBackend): S3StorageBackend;
} {
  const open: S3StorageBackend[] = [];
  afterEach(async () => {
    for (const s of open.splice(0)) {
      await s.close();
      await removePrefix(s.prefix);
    }
  });
  const track = (s: S3StorageBackend): S3StorageBackend => {
    open.push(s);
    return s;
  };
  return Object.assign((overrides: Partial<S3StorageOptions> = {}) => track(freshStorage(overrides)), { track });
}
