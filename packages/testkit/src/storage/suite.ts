import type { StorageBackend } from '@hadb/storage';
import { afterEach, describe, expect, it } from 'vitest';
import type { SuiteContext } from './helpers.js';
import { resolveSuiteOptions, type StorageBackendSuiteOptions, type StorageSuiteGroup } from './options.js';
import { registerBatch } from './suite-batch.js';
import { registerCas, registerCasRace } from './suite-cas.js';
import { registerCrud } from './suite-crud.js';
import { registerAbort, registerKeySafety, registerLifecycle } from './suite-guards.js';
import { registerList } from './suite-list.js';
import { registerRange } from './suite-range.js';
import { registerBigStream, registerStream } from './suite-stream.js';

/**
 * Registers the StorageBackend conformance tests (vitest `describe`/`it`) for one backend. Call it
 * at the top level of a test file:
 *
 * ```ts
 * import { storageBackendSuite } from '@hadb/testkit/storage';
 * storageBackendSuite({
 *   name: 'mem',
 *   create: () => new MemStorageBackend(),
 *   capabilities: { atomicConditionalWrites: true, conditionalStreamingWrites: true, uniqueEtags: true },
 * });
 * ```
 *
 * Each test gets fresh backends from `create` and closes them (then calls `destroy`) afterwards.
 * Groups a backend cannot run are skipped through `skip`, heavy tests scale through
 * `bigObjectBytes`, `rounds`, `concurrency`, `listKeys` and `timeoutScale`.
 */
export function storageBackendSuite(options: StorageBackendSuiteOptions): void {
  const resolved = resolveSuiteOptions(options);
  describe(`StorageBackend conformance: ${resolved.name}`, () => {
    const live: StorageBackend[] = [];
    afterEach(async () => {
      const backends = live.splice(0);
      for (const backend of backends) {
        await backend.close();
        await resolved.destroy?.(backend);
      }
    });

    const ctx: SuiteContext = {
      options: resolved,
      async fresh() {
        const backend = await resolved.create();
        live.push(backend);
        return backend;
      },
      timeout: (ms) => Math.round(ms * resolved.timeoutScale),
      skipped: (group: StorageSuiteGroup) => resolved.skip?.[group],
    };

    it('declares the capabilities and a name', async () => {
      const backend = await ctx.fresh();
      expect(backend.capabilities).toEqual(resolved.capabilities);
      expect(typeof backend.name).toBe('string');
      expect(backend.name.length).toBeGreaterThan(0);
    });

    registerCrud(ctx);
    registerList(ctx);
    registerCas(ctx);
    registerCasRace(ctx);
    registerRange(ctx);
    registerBatch(ctx);
    registerStream(ctx);
    registerBigStream(ctx);
    registerKeySafety(ctx);
    registerAbort(ctx);
    registerLifecycle(ctx);
  });
}
