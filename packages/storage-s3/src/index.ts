export { S3Storage } from './s3-storage.js';
export { openS3Storage, type OpenS3StorageOptions } from './open.js';
export type { S3RetryOptions, S3StorageOptions } from './options.js';
export type {
  ConditionalWriteProbe,
  ConditionalWriteVerdict,
  ProbeCheck,
  ProbeOptions,
} from './probe.js';
