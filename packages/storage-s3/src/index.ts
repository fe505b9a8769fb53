export { S3StorageBackend } from './s3-storage-backend.js';
export type { S3StorageOpenOptions } from './open.js';
export type { S3RetryOptions, S3StorageOptions } from './options.js';
export type {
  ConditionalWriteProbe,
  ConditionalWriteVerdict,
  ProbeCheck,
  ProbeOptions,
} from './probe.js';
