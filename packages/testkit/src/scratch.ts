import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';

/** What {@link scratchNodes} gives a test file (valid inside a test). */
export interface ScratchNodes<S, N> {
  /** This test's scratch directory. */
  readonly dir: string;
  /** What `setup` returned for this test (storage, lease store, …). */
  readonly shared: S;
  /** Nodes given to {@link track} and not yet closed by the test; closed after it. */
  readonly open: N[];
  /** Closes `node` after the test (unless the test empties {@link open}); returns it. */
  track(node: N): N;
  /** Runs `fn` after the test, before the nodes close (last registered first). */
  defer(fn: () => unknown): void;
}

/**
 * In-process test nodes over per-test shared resources. Registers `beforeEach` (a new scratch
 * directory `<tmp>/<prefix>-…`, then `setup(dir)`) and `afterEach` (deferred functions, then every
 * tracked node's `close()`, then the shared resources' `close()`, then the directory is removed).
 */
export function scratchNodes<S extends { close(): Promise<void> }, N extends { close(): Promise<void> }>(
  prefix: string,
  setup: (dir: string) => Promise<S>,
): ScratchNodes<S, N> {
  let dir = '';
  let shared: S | undefined;
  const open: N[] = [];
  const deferred: (() => unknown)[] = [];
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
    shared = await setup(dir);
  });
  afterEach(async () => {
    for (const fn of deferred.splice(0).reverse()) await fn();
    for (const node of open.splice(0)) await node.close().catch(() => undefined);
    await shared?.close();
    shared = undefined;
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    get shared() {
      if (shared === undefined) throw new Error('scratchNodes: used outside a test');
      return shared;
    },
    open,
    track(node) {
      open.push(node);
      return node;
    },
    defer: (fn) => void deferred.push(fn),
  };
}
