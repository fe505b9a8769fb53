import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminHandler, parsePrometheus } from '../src/index.js';
import { TestCluster } from './support/cluster.js';
import { requireBinary } from './support/tools.js';

const run = promisify(execFile);
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const DASHBOARD = here('../grafana/hadb.json');
const RULES = here('../prometheus/hadb-alerts.yml');
const RULE_TESTS = here('./fixtures/hadb-alerts.test.yml');
const hasPromtool = requireBinary('/usr/bin/promtool', 'prometheus');

/** Metric names a PromQL expression reads (`hadb_*` and `up`). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(hadb_[a-z_]+|up)\b/g)].map((m) => m[1]!);
}

/** Every family name a live admin server exposes: a real two-node cluster with webhooks and a heartbeat. */
let exposed: Set<string>;
const cluster = new TestCluster();
let handler: AdminHandler;
beforeAll(async () => {
  const [a, b] = await cluster.start(['a', 'b']);
  handler = new AdminHandler({
    sources: [a!.source, b!.source],
    webhooks: { targets: [{ url: 'http://127.0.0.1:9/hook' }] },
    heartbeat: { url: 'http://127.0.0.1:9/ping', intervalMs: 60_000 },
  });
  exposed = new Set([...parsePrometheus(await handler.prometheus()).map((f) => f.name), 'up']);
  expect(exposed.has('hadb_lag_seconds')).toBe(true);
});
afterAll(async () => {
  await handler?.close();
  await cluster.close();
});

describe('Grafana dashboard (grafana/hadb.json)', () => {
  it('is valid dashboard JSON whose every query reads metrics the admin server exposes', async () => {
    const dash = JSON.parse(await readFile(DASHBOARD, 'utf8')) as {
      uid: string;
      panels: Array<{ id: number; title: string; targets: Array<{ expr: string }>; gridPos: object }>;
      templating: { list: Array<{ query: string | { query: string } }> };
    };
    expect(dash.uid).toBe('hadb-overview');
    const ids = dash.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
    for (const v of dash.templating.list) if (typeof v.query === 'object') exprs.push(v.query.query);
    expect(exprs.length).toBeGreaterThan(10);
    const missing = exprs.flatMap(metricNames).filter((n) => !exposed.has(n));
    expect(missing).toEqual([]);
    const shown = new Set(exprs.flatMap(metricNames));
    for (const name of [
      'hadb_lag_seconds',
      'hadb_seconds_since_last_ship',
      'hadb_shipped_bytes_total',
      'hadb_errors_total',
      'hadb_circuit_breaker_state',
      'hadb_is_leader',
      'hadb_epoch',
    ]) {
      expect(shown.has(name), name).toBe(true);
    }
  });
});

describe.skipIf(!hasPromtool)('alerting rules (prometheus/hadb-alerts.yml)', () => {
  it('pass promtool check and its unit tests, and read only exposed metrics', async () => {
    await run('/usr/bin/promtool', ['check', 'rules', RULES]);
    const dir = await mkdtemp(join(tmpdir(), 'hadb-admin-rules-'));
    try {
      const tests = join(dir, 'tests.yml');
      await writeFile(tests, (await readFile(RULE_TESTS, 'utf8')).replace('RULES_FILE', RULES));
      const { stdout } = await run('/usr/bin/promtool', ['test', 'rules', tests]);
      expect(stdout).toContain('SUCCESS');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const exprs = [...(await readFile(RULES, 'utf8')).matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1]!);
    expect(exprs.length).toBe(16);
    expect(exprs.flatMap(metricNames).filter((n) => !exposed.has(n))).toEqual([]);
  });
});
