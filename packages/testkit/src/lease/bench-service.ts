import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SERVICE_ENV, type ServiceName } from '../services.js';

/** Service scripts whose file name is not `<service>.sh`; a new service needs no entry here. */
const SCRIPTS: Partial<Record<ServiceName, string>> = { s3: 'ceph-s3.sh', nats: 'nats-js.sh' };

/**
 * For bench files: runs `fn` with the variables of a real server. Uses the environment when it
 * already has them (for example under `pnpm test`); otherwise starts the server with the
 * repository's `scripts/services/<name>.sh` and stops it afterwards (a server that was already
 * running is left running). Returns `undefined` (and
 * `fn` does not run) when the server is not installed or does not start.
 */
export async function withBenchService<T>(
  name: ServiceName,
  fn: (env: Readonly<Record<string, string>>) => Promise<T>,
): Promise<T | undefined> {
  const present = SERVICE_ENV[name].every((v) => process.env[v]);
  if (present) return fn(Object.fromEntries(SERVICE_ENV[name].map((v) => [v, process.env[v]!])));
  const script = fileURLToPath(
    new URL(`../../../../scripts/services/${SCRIPTS[name] ?? `${name}.sh`}`, import.meta.url),
  );
  if (!existsSync(script)) return undefined;
  const running = spawnSync('bash', [script, 'env'], { stdio: 'ignore' }).status === 0;
  if (!running) {
    const started = spawnSync('bash', [script, 'start'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000 });
    if (started.status !== 0) return undefined;
  }
  try {
    const out = spawnSync('bash', [script, 'env'], { encoding: 'utf8' }).stdout;
    const env: Record<string, string> = {};
    for (const line of out.split('\n')) {
      const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
      if (m) env[m[1]!] = m[2]!;
    }
    return await fn(env);
  } finally {
    if (!running) spawnSync('bash', [script, 'stop'], { stdio: 'ignore', timeout: 60_000 });
  }
}
