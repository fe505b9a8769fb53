import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanEnv, root } from './workspace.js';

// scripts/test.mjs, run in a scratch root with two fake services and a fake vitest, so what it
// starts and stops can be observed without touching real servers.
let work: string;
const calls = () =>
  existsSync(join(work, 'calls.log')) ? readFileSync(join(work, 'calls.log'), 'utf8').trim().split('\n') : [];

function service(name: string, running: boolean): void {
  const state = join(work, `${name}.up`);
  if (running) writeFileSync(state, '');
  writeFileSync(
    join(work, 'scripts/services', `${name}.sh`),
    `#!/usr/bin/env bash
case "$1" in
  start) echo "${name} start" >> "${join(work, 'calls.log')}"; touch "${state}" ;;
  stop) echo "${name} stop" >> "${join(work, 'calls.log')}"; rm -f "${state}" ;;
  env) [ -f "${state}" ] || exit 1; echo "HADB_FAKE_${name.toUpperCase().replace('-', '_')}_URL=fake://${name}" ;;
esac
`,
  );
}

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'hadb-runner-'));
  mkdirSync(join(work, 'scripts/services'), { recursive: true });
  mkdirSync(join(work, 'node_modules/vitest'), { recursive: true });
  copyFileSync(join(root, 'scripts/test.mjs'), join(work, 'scripts/test.mjs'));
  // A vitest that writes the JSON report test.mjs reads, and records which service variables it saw.
  writeFileSync(
    join(work, 'node_modules/vitest/vitest.mjs'),
    `import { writeFileSync, appendFileSync } from 'node:fs';
const out = process.argv.find((a) => a.startsWith('--outputFile.json=')).split('=')[1];
appendFileSync(${JSON.stringify(join(work, 'calls.log'))}, 'vitest sees ' + Object.keys(process.env).filter((k) => k.startsWith('HADB_FAKE_')).sort().join(',') + '\\n');
writeFileSync(out, JSON.stringify({ numPassedTests: 3, numFailedTests: 0, numPendingTests: 1, numTodoTests: 0, numTotalTests: 4 }));
console.log('JSON report written to ' + out);
`,
  );
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

function runner(env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [join(work, 'scripts/test.mjs')], {
    cwd: work,
    env: cleanEnv(env),
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('scripts/test.mjs', () => {
  it('uses a server that is already running and leaves it running; stops only what it started', () => {
    service('already-up', true);
    service('not-up', false);
    const r = runner({ HADB_TEST_SERVICES: '1' });
    expect(r.status, r.stderr).toBe(0);
    expect(calls()).toEqual([
      'not-up start',
      'vitest sees HADB_FAKE_ALREADY_UP_URL,HADB_FAKE_NOT_UP_URL',
      'not-up stop',
    ]);
    expect(existsSync(join(work, 'already-up.up'))).toBe(true);
    expect(r.stderr).toContain('service already-up: already running — using it, and leaving it running');
    expect(r.stdout).toContain('Tests: 3 passed, 0 failed, 1 skipped');
  });

  it('keeps the JSON report at the path it prints', () => {
    service('not-up', false);
    const r = runner();
    const printed = /JSON report written to (\S+)/.exec(r.stdout)?.[1];
    expect(printed).toBeDefined();
    expect(JSON.parse(readFileSync(printed!, 'utf8')).numPassedTests).toBe(3);
  });

  it('starts only the services HADB_TEST_SERVICES names, none for 0, and refuses an unknown name', () => {
    service('a-one', false);
    service('b-two', false);
    expect(runner({ HADB_TEST_SERVICES: 'b-two' }).status).toBe(0);
    expect(calls()).toEqual(['b-two start', 'vitest sees HADB_FAKE_B_TWO_URL', 'b-two stop']);
    rmSync(join(work, 'calls.log'));
    expect(runner({ HADB_TEST_SERVICES: '0' }).status).toBe(0);
    expect(calls()).toEqual(['vitest sees']);
    const bad = runner({ HADB_TEST_SERVICES: 'redis' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('HADB_TEST_SERVICES names "redis", but there is no scripts/services/redis.sh');
  });
});
