import { StorageError, isStorageError } from '@hadb/storage';

export function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** A key (or a prefix of it) collides with a directory or file: retrying will not help. */
export function keyConflict(op: string, cause: unknown): StorageError {
  return new StorageError(
    'HADB_STORAGE_REJECTED',
    `${op}: the key collides with a directory or file of another key (a local key cannot be both an object and a "/" prefix of other keys)`,
    { cause },
  );
}

/** Maps a file-system error to a StorageError (StorageErrors pass through). Paths stay in `cause` only. */
export function fsError(op: string, error: unknown): StorageError {
  if (isStorageError(error)) return error;
  const code = errno(error);
  if (code === 'ENAMETOOLONG') {
    return new StorageError('HADB_STORAGE_INVALID_KEY', `${op}: a key segment is longer than the file system allows`, {
      cause: error,
    });
  }
  if (code === 'ENOTDIR' || code === 'EISDIR' || code === 'ENOTEMPTY') return keyConflict(op, error);
  return new StorageError('HADB_STORAGE_IO', `${op} failed: ${code ?? String(error)}`, { cause: error });
}
