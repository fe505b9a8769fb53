import type { OpOptions } from '@hadb/io';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { StorageError } from '@hadb/storage';
import { toStorageError } from './errors.js';
import type { S3StorageOptions } from './options.js';
import type { ProbeOptions } from './probe.js';
import type { S3StorageBackend } from './s3-storage-backend.js';

/** Options of {@link S3StorageBackend.open}. */
export interface S3StorageOpenOptions extends S3StorageOptions, OpOptions {
  /**
   * Probe the server and refuse to open (`HADB_STORAGE_UNSUPPORTED`) unless conditional writes are
   * atomic. Set it wherever the backend takes part in leader election. Default false.
   */
  readonly requireAtomicConditionalWrites?: boolean | undefined;
  /** Options of the probe run by `requireAtomicConditionalWrites`. */
  readonly probe?: Omit<ProbeOptions, 'signal'> | undefined;
}

/**
 * The checks of {@link S3StorageBackend.open}: the bucket must exist and the credentials must work
 * (HeadBucket), and with `requireAtomicConditionalWrites` the server must pass
 * `assertAtomicConditionalWrites()`. Closes `storage` and throws the typed error on failure.
 */
export async function verifyOpened(storage: S3StorageBackend, options: S3StorageOpenOptions): Promise<void> {
  try {
    try {
      await storage.boundedClient.send(new HeadBucketCommand({ Bucket: storage.bucket }), {
        abortSignal: options.signal,
      });
    } catch (error) {
      const mapped = toStorageError(error, { op: 'open (HeadBucket)', signal: options.signal });
      if (mapped.status === 404) {
        throw new StorageError('HADB_STORAGE_REJECTED', `S3 open: bucket "${storage.bucket}" does not exist`, {
          cause: error,
          status: 404,
        });
      }
      throw mapped;
    }
    if (options.requireAtomicConditionalWrites === true) {
      await storage.assertAtomicConditionalWrites({ ...options.probe, signal: options.signal });
    }
  } catch (error) {
    await storage.close();
    throw error;
  }
}
