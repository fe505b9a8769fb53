/**
 * `prom-client` bridge (subpath `@hadb/admin/prom-client`; `prom-client` is an optional peer
 * dependency used only here): registers hadb's metric families into an app's registry, so an app
 * that already serves `/metrics` with prom-client exposes hadb's metrics too.
 */
import type { Registry } from 'prom-client';
import { AdminHandler, type AdminOptions } from './admin.js';
import { ADMIN_METRICS } from './catalog.js';
import { mergeFamilies } from './exposition.js';
import type { MetricFamily } from './source.js';

/** What {@link registerHadbMetrics} returns. */
export interface HadbPromClientMetrics extends AsyncDisposable {
  /** Names of the families registered. */
  readonly names: readonly string[];
  /** The collector (also usable for `/ready` and `/status`). */
  readonly handler: AdminHandler;
  /** Removes the families from the registry and, if this call created the handler, closes it. */
  close(): Promise<void>;
}

/** How long one collection is shared by the families of a scrape. */
const SHARE_MS = 250;

/**
 * Registers every hadb family (the sources' own, such as `hadb_lease_*`, and the status-derived
 * `hadb_*` ones, each labelled `node`) into `registry`. Values are read from the sources at
 * scrape time; one collection serves every family of a scrape. Families are those present at
 * registration plus the whole status catalog; families a source only starts reporting later are
 * not added.
 *
 * Pass an existing {@link AdminHandler} (for example `server.handler`) or the options to create
 * one.
 *
 * @example
 * import { Registry } from 'prom-client';
 * import { registerHadbMetrics } from '@hadb/admin/prom-client';
 * const hadb = await registerHadbMetrics(register, { sources: [source] });
 */
export async function registerHadbMetrics(
  registry: Registry,
  from: AdminHandler | AdminOptions,
): Promise<HadbPromClientMetrics> {
  const owned = !(from instanceof AdminHandler);
  const handler = from instanceof AdminHandler ? from : new AdminHandler(from);
  let shared: { at: number; families: Promise<Map<string, MetricFamily>> } | undefined;
  const current = (): Promise<Map<string, MetricFamily>> => {
    const now = Date.now();
    if (shared === undefined || now - shared.at > SHARE_MS) {
      const families = handler.families().then((f) => new Map(mergeFamilies(f).map((x) => [x.name, x])));
      shared = { at: now, families };
    }
    return shared.families;
  };
  const initial = await current();
  const catalog = new Map<string, MetricFamily>();
  for (const [name, type, help] of Object.values(ADMIN_METRICS)) catalog.set(name, { name, type, help, samples: [] });
  for (const f of initial.values()) catalog.set(f.name, f);
  const names: string[] = [];
  for (const f of catalog.values()) {
    const metric = {
      name: f.name,
      help: f.help,
      type: f.type === 'untyped' ? 'gauge' : f.type,
      aggregator: 'sum',
      async get() {
        const fam = (await current()).get(f.name);
        return {
          name: f.name,
          help: f.help,
          type: f.type === 'untyped' ? 'gauge' : f.type,
          aggregator: 'sum',
          values: (fam?.samples ?? []).map((s) => ({ labels: { ...s.labels }, value: s.value })),
        };
      },
      reset() {},
    };
    registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
    names.push(f.name);
  }
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const name of names) registry.removeSingleMetric(name);
    if (owned) await handler.close();
  };
  return { names, handler, close, [Symbol.asyncDispose]: close };
}
