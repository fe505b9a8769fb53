import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/**
 * Where one database's DuckDB lives, as the leader and the follower use it: its own instance, or
 * its catalog in a {@link DuckSharedInstance}.
 */
export interface DuckHandle {
  /** A new connection whose default catalog is this database (the caller closes it). */
  connect(): Promise<DuckDBConnection>;
  /** The statement that checkpoints this database (and only it). */
  readonly checkpointSql: string;
  /**
   * Closes the instance, or DETACHes the catalog from the shared one; every connection from
   * {@link connect} must be closed first. Afterwards nothing in this process holds the file.
   */
  close(): Promise<void>;
}

/** Opens `path` in an instance of its own with `config` (DuckDB settings). */
export async function ownInstance(path: string, config: Readonly<Record<string, string>>): Promise<DuckHandle> {
  const instance = await DuckDBInstance.create(path, { ...config });
  return {
    connect: () => instance.connect(),
    checkpointSql: 'CHECKPOINT',
    async close() {
      instance.closeSync();
    },
  };
}

/** Quotes a DuckDB identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a DuckDB string literal. */
export function quoteString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
