/**
 * Sidecar mode: the same engine as embedded mode, run beside an application written in any
 * language. It touches the databases only through SQLite connections and by reading their WAL
 * files. Guarantees: it never writes a database page; it holds the write lock only for the
 * moment of a checkpoint (writers need a busy timeout, as with any second SQLite connection);
 * a commit the application made is in storage within one sync interval while storage is up.
 */
import type { OpOptions } from '@hadb/io';
import { Walstream } from './walstream.js';
import type { DatabaseOptions, WalstreamOptions } from './options.js';
import type { DatabaseReplicator } from './replicator.js';

/** Options of {@link runSidecar}. */
export interface SidecarOptions extends WalstreamOptions {
  /** Database files (name = base name) or `{ path, name, … }`. */
  readonly databases: ReadonlyArray<string | (DatabaseOptions & { readonly path: string })>;
  /** Called once every database has caught up with storage. */
  readonly onReady?: ((replicators: readonly DatabaseReplicator[]) => void) | undefined;
}

/**
 * Replicates `databases` until `signal` aborts, then ships what is committed and returns.
 * A database that fails to start makes the call reject (after closing the others).
 */
export async function runSidecar(options: SidecarOptions, op: OpOptions = {}): Promise<void> {
  const ws = await Walstream.open(options);
  try {
    const started: DatabaseReplicator[] = [];
    for (const db of options.databases) {
      const spec = typeof db === 'string' ? { path: db } : db;
      started.push(await ws.add(spec.path, { ...spec, signal: op.signal }));
    }
    options.onReady?.(started);
    if (op.signal !== undefined && !op.signal.aborted) {
      await new Promise<void>((resolve) => op.signal!.addEventListener('abort', () => resolve(), { once: true }));
    }
  } finally {
    await ws.close();
  }
}
