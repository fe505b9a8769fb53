#!/usr/bin/env node
// The README's test command: starts the real servers the suites need (when installed), runs every
// Vitest project once, stops the servers it started, and prints one summary line.
//   pnpm test [vitest args...]      e.g. pnpm test packages/changeset
// Env:
//   HADB_TEST_SERVICES  unset or 1: every scripts/services/*.sh; 0: none; a comma list (nats-js,etcd):
//                       only those — e.g. to test one lease store without starting Ceph.
//   CI=true             a missing server is a failure instead of a loud skip.
// A server that is already running (its script's `env` answers) is used as it is and left running:
// this script stops, and lets the service script wipe the state of, only servers it started itself.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const servicesDir = join(root, 'scripts', 'services');
const ci = process.env.CI === 'true' || process.env.CI === '1';
const started = [];

function log(msg) {
  process.stderr.write(`[hadb test] ${msg}\n`);
}

/** The service scripts to use, from HADB_TEST_SERVICES. */
function wantedServices() {
  // biome-ignore lint/suspicious/noUndeclaredEnvVars: read by this runner before turbo or Vitest start
  const setting = (process.env.HADB_TEST_SERVICES ?? '1').trim();
  if (setting === '0' || !existsSync(servicesDir)) return [];
  const all = readdirSync(servicesDir)
    .filter((f) => f.endsWith('.sh'))
    .map((f) => f.slice(0, -3))
    .sort();
  if (setting === '1' || setting === '') return all;
  const names = setting
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!all.includes(n)) {
      log(`HADB_TEST_SERVICES names "${n}", but there is no scripts/services/${n}.sh (have: ${all.join(', ')})`);
      process.exit(2);
    }
  }
  return names;
}

/** Exports the KEY=VALUE lines the script's `env` prints; false when the server is not running. */
function importEnv(script) {
  const env = spawnSync('bash', [script, 'env'], { encoding: 'utf8' });
  if (env.status !== 0) return false;
  for (const line of env.stdout.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) process.env[m[1]] = m[2];
  }
  return true;
}

function startServices() {
  let ok = true;
  for (const name of wantedServices()) {
    const script = join(servicesDir, `${name}.sh`);
    if (importEnv(script)) {
      log(`service ${name}: already running — using it, and leaving it running`);
      continue;
    }
    const r = spawnSync('bash', [script, 'start'], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 180_000 });
    if (r.status === 0) {
      started.push(script);
      importEnv(script);
      log(`service ${name}: started (stopped again at the end)`);
    } else if (r.status === 3) {
      log(
        `!!! SKIPPING service ${name}: its server is not installed (see scripts/services/${name}.sh); its suites will skip${ci ? ' — and fail, because CI=true' : ''}`,
      );
      if (ci) ok = false;
    } else {
      log(`!!! service ${name} failed to start (exit ${r.status ?? r.signal})`);
      if (ci) ok = false;
    }
  }
  return ok;
}

function stopServices() {
  for (const script of started.splice(0).reverse()) {
    spawnSync('bash', [script, 'stop'], { stdio: 'inherit', timeout: 60_000 });
  }
}

const servicesOk = startServices();
// The JSON report stays where Vitest says it wrote it (overwritten by the next run).
const out = join(root, 'node_modules', '.cache', 'hadb-test');
mkdirSync(out, { recursive: true });
const report = join(out, 'vitest.json');
rmSync(report, { force: true });
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const child = spawn(
  process.execPath,
  [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { cwd: root, stdio: 'inherit', env: process.env },
);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    child.kill(sig);
  });
}
child.on('exit', (code, signal) => {
  stopServices();
  let status = code ?? 1;
  try {
    const r = JSON.parse(readFileSync(report, 'utf8'));
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    // One plain line that any CI log reader understands.
    process.stdout.write(`\nTests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped\n`);
    if (r.numTotalTests === 0) status = status || 1;
  } catch {
    log(`no test report (vitest exited ${code ?? signal})`);
    status = status || 1;
  }
  if (!servicesOk) {
    log('failing: a required service was missing or did not start under CI=true');
    status = status || 1;
  }
  process.exit(status);
});
