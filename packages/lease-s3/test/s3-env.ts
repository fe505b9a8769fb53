import { testService } from '@hadb/testkit';

/** The Ceph RGW started by scripts/services/ceph-s3.sh (or another S3 server in HADB_TEST_S3_*). */
export const s3 = testService('s3');

/** Connection options of the test server. */
export const s3Options = {
  bucket: s3.env.HADB_TEST_S3_BUCKET ?? '',
  endpoint: s3.env.HADB_TEST_S3_ENDPOINT ?? '',
  region: process.env.HADB_TEST_S3_REGION ?? 'us-east-1',
  credentials: {
    accessKeyId: s3.env.HADB_TEST_S3_ACCESS_KEY_ID ?? '',
    secretAccessKey: s3.env.HADB_TEST_S3_SECRET_ACCESS_KEY ?? '',
  },
  // Ceph RGW 16 compares If-Match with the bare stored ETag.
  unquotedIfMatch: process.env.HADB_TEST_S3_UNQUOTED_IF_MATCH === '1',
};

/** A prefix no other run uses. */
export function runPrefix(label: string): string {
  return `hadb-test-lease/${label}-${process.pid}-${Date.now().toString(36)}/`;
}
