import { fileURLToPath } from 'node:url';
import { eventually as poll, type NodeProcess, ProcessCluster } from '@hadb/testkit';

/** A node process of {@link Cluster} (test/fixtures/node.ts). */
export type Node = NodeProcess;

/** A scratch cluster of test/fixtures/node.ts processes, one `.duckdb` file per node. */
export class Cluster extends ProcessCluster {
  constructor(env: Record<string, string> = {}) {
    super(
      {
        fixture: fileURLToPath(new URL('./fixtures/node.ts', import.meta.url)),
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        tmpPrefix: 'haduck-test-',
        fileSuffix: '.duckdb',
      },
      env,
    );
  }
}

/** Polls `fn` every 100 ms until it returns a truthy value; throws after `ms`. */
export function eventually<T>(fn: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  return poll(fn, { timeoutMs: ms, intervalMs: 100 });
}
