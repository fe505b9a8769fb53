import { fileURLToPath } from 'node:url';
import { type NodeProcess, ProcessCluster } from '@hadb/testkit';

/** A node process of {@link Cluster} (test/fixtures/node.ts). */
export type Node = NodeProcess;

/** A scratch cluster of test/fixtures/node.ts processes, one `.db` file per node. */
export class Cluster extends ProcessCluster {
  constructor(env: Record<string, string> = {}) {
    super(
      {
        fixture: fileURLToPath(new URL('./fixtures/node.ts', import.meta.url)),
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        tmpPrefix: 'haqlite-test-',
        fileSuffix: '.db',
      },
      env,
    );
  }
}
