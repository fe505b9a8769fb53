#!/usr/bin/env node
// The README's test command: starts the real servers the suites need (when installed), runs every
// Vitest project once, stops the servers, and prints one summary line.
//   pnpm test [vitest args...]      e.g. pnpm test packages/changeset
// Env: HADB_TEST_SERVICES=0 skips starting servers. CI=true turns a missing server into a failure.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const servicesDir = join(root, 'scripts', 'services');
const ci = process.env.CI === 'true' || process.env.CI === '1';
const started = [];

function log(msg) {
  process.stderr.write(`[hadb test] ${msg}\n`);
}

function startServices() {
  if (process.env.HADB_TEST_SERVICES === '0' || !existsSync(servicesDir)) return true;
  let ok = true;
  for (const name of ['ceph-s3', 'nats-js', 'etcd']) {
    const script = join(servicesDir, `${name}.sh`);
    if (!existsSync(script)) continue;
    const r = spawnSync('bash', [script, 'start'], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 180_000 });
    if (r.status === 0) {
      started.push(script);
      const env = spawnSync('bash', [script, 'env'], { encoding: 'utf8' });
      for (const line of env.stdout.split('\n')) {
        const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
        if (m) process.env[m[1]] = m[2];
      }
      log(`service ${name}: started`);
    } else if (r.status === 3) {
      log(`!!! SKIPPING service ${name}: its server is not installed (see scripts/services/${name}.sh); its suites will skip${ci ? ' — and fail, because CI=true' : ''}`);
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
const out = mkdtempSync(join(tmpdir(), 'hadb-test-'));
const report = join(out, 'vitest.json');
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
  rmSync(out, { recursive: true, force: true });
  if (!servicesOk) {
    log('failing: a required service was missing or did not start under CI=true');
    status = status || 1;
  }
  process.exit(status);
});
