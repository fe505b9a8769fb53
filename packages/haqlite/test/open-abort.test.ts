import { readdirSync } from 'node:fs';
import type { OpOptions } from '@hadb/io';
import type { StorageBackend } from '@hadb/storage';
import { until } from '@hadb/testkit';
import { describe, expect, it } from 'vitest';
import { isHaError } from '../src/index.js';
import { localNodes } from './local-nodes.js';

const nodes = localNodes('open-abort');

/** `storage` whose listings never answer while `hang()` says so, unless the caller gives up. */
function hangingListings(storage: StorageBackend, hang: () => boolean): { storage: StorageBackend; calls(): number } {
  let calls = 0;
  const proxy = new Proxy(storage, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (prop === 'list' && hang()) {
        return (_prefix: string, o?: OpOptions) => {
          calls++;
          return new Promise((_resolve, reject) =>
            o?.signal?.addEventListener('abort', () => reject(o.signal?.reason), { once: true }),
          );
        };
      }
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { storage: proxy, calls: () => calls };
}

describe('HaQLite.open with a signal', () => {
  it('passes it to the node: an open stuck on storage rejects with HADB_HA_ABORTED, and the node opens again at once', async () => {
    let hang = true;
    const stuck = hangingListings(nodes.storage, () => hang);
    const controller = new AbortController();
    const opening = nodes.node('a', { storage: stuck.storage, signal: controller.signal }).then(
      () => 'opened',
      (e: unknown) => e,
    );
    await until(() => stuck.calls() > 0, { what: 'the open listing storage' });
    const aborted = Date.now();
    controller.abort();
    const err = await opening;
    expect(isHaError(err, 'HADB_HA_ABORTED'), String(err)).toBe(true);
    expect(Date.now() - aborted).toBeLessThan(2000);
    expect(readdirSync(nodes.dir).filter((f) => f.endsWith('.hadb-lock'))).toEqual([]);
    hang = false;
    const a = await nodes.node('a', { storage: stuck.storage });
    await a.waitForRole('leader');
    await a.execute('CREATE TABLE t (id INTEGER PRIMARY KEY)');
  });
});
