import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { StorageError } from '@hadb/storage';
import { toStorageError } from './errors.js';
import type { S3StorageOptions } from './options.js';
import type { ProbeOptions } from './probe.js';
import { S3Storage } from './s3-storage.js';

/** Options of {@link openS3Storage}. */
export interface OpenS3StorageOptions extends S3StorageOptions {
  /**
   * Probe the server and refuse to open (`HADB_STORAGE_UNSUPPORTED`) unless conditional writes are
   * atomic. Set it wherever the backend takes part in leader election. Default false.
   */
  readonly requireAtomicConditionalWrites?: boolean | undefined;
  /** Options of the probe run by `requireAtomicConditionalWrites`. */
  readonly probe?: Omit<ProbeOptions, 'signal'> | undefined;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Creates an {@link S3Storage} and checks it before handing it out: the bucket must exist and the
 * credentials must work (HeadBucket), and with `requireAtomicConditionalWrites` the server must
 * pass `assertAtomicConditionalWrites()`. On failure the backend is closed and the typed error
 * (`HADB_STORAGE_AUTH`, `HADB_STORAGE_REJECTED` for a missing bucket, `HADB_STORAGE_UNAVAILABLE`,
 * `HADB_STORAGE_UNSUPPORTED`) is thrown.
 */
export async function openS3Storage(options: OpenS3StorageOptions): Promise<S3Storage> {
  const storage = new S3Storage(options);
  try {
    try {
      await storage.client.send(new HeadBucketCommand({ Bucket: storage.bucket }), { abortSignal: options.signal });
    } catch (error) {
      const mapped = toStorageError(error, { op: 'open (HeadBucket)', signal: options.signal });
      if (mapped.status === 404) {
        throw new StorageError('HADB_STORAGE_REJECTED', `S3 open: bucket "${storage.bucket}" does not exist`, { cause: error, status: 404 });
      }
      throw mapped;
    }
    if (options.requireAtomicConditionalWrites === true) {
      await storage.assertAtomicConditionalWrites({ ...options.probe, signal: options.signal });
    }
    return storage;
  } catch (error) {
    await storage.close();
    throw error;
  }
}
