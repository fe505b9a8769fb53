import { randomBytes } from 'node:crypto';
import type { StorageBackend } from '@hadb/storage';
import { S3StorageBackend, type S3StorageOptions } from '@hadb/storage-s3';
import { testService } from '@hadb/testkit';

/** The real S3 server (Ceph RGW) from scripts/services/ceph-s3.sh: skips loudly locally, fails under CI=true. */
export const s3Service = testService('s3');

const RUN = `age-${randomBytes(4).toString('hex')}`;
let counter = 0;

function connection(prefix: string): S3StorageOptions {
  const env = s3Service.env;
  return {
    bucket: env.HADB_TEST_S3_BUCKET ?? '',
    endpoint: env.HADB_TEST_S3_ENDPOINT,
    region: process.env.HADB_TEST_S3_REGION ?? 'us-east-1',
    credentials: {
      accessKeyId: env.HADB_TEST_S3_ACCESS_KEY_ID ?? '',
      secretAccessKey: env.HADB_TEST_S3_SECRET_ACCESS_KEY ?? '',
    },
    unquotedIfMatch: process.env.HADB_TEST_S3_UNQUOTED_IF_MATCH === '1',
    prefix,
    retry: { baseDelayMs: 5, maxDelayMs: 50 },
  };
}

/** A fresh unique prefix in the test bucket. */
export function s3Prefix(): string {
  counter += 1;
  return `${RUN}/${counter}/`;
}

/** Plain S3 storage over `prefix`. */
export function openS3(
  prefix: string,
  extra: Partial<S3StorageOptions> = {},
): Promise<StorageBackend & { readonly prefix: string }> {
  return S3StorageBackend.open({ ...connection(prefix), ...extra });
}

/** Deletes every object under `prefix`. */
export async function removeS3Prefix(prefix: string): Promise<void> {
  const s3 = await openS3(prefix);
  try {
    await s3.deleteMany(await s3.list(''));
  } finally {
    await s3.close();
  }
}
