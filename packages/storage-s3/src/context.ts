import type { S3Client } from '@aws-sdk/client-s3';
import type { Requester } from './requester.js';

/** What the operation modules share with the backend. Keys passed around are full S3 keys. */
export interface S3Context {
  readonly client: S3Client;
  readonly bucket: string;
  readonly requester: Requester;
  readonly unquotedIfMatch: boolean;
}
