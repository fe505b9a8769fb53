/** Environment variables through which `pnpm test` hands real servers to the suites. */
export const SERVICE_ENV = {
  s3: ['HADB_TEST_S3_ENDPOINT', 'HADB_TEST_S3_BUCKET', 'HADB_TEST_S3_ACCESS_KEY_ID', 'HADB_TEST_S3_SECRET_ACCESS_KEY'],
  nats: ['HADB_TEST_NATS_URL'],
  etcd: ['HADB_TEST_ETCD_URL'],
} as const;

/** A real test server the suites can run against. */
export type ServiceName = keyof typeof SERVICE_ENV;

/** What {@link testService} found. */
export interface ServiceAvailability {
  readonly available: boolean;
  /** The service's variables (all present when `available`). */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Looks up a real server started by `scripts/services/*.sh` (through `pnpm test`). When it is
 * missing, prints a loud warning and returns `available: false` so the caller can
 * `describe.skipIf(!available)`; under `CI=true` a missing service throws instead, so CI fails
 * rather than silently skipping.
 */
export function testService(name: ServiceName, env: NodeJS.ProcessEnv = process.env): ServiceAvailability {
  const vars = SERVICE_ENV[name];
  const found: Record<string, string> = {};
  const missing: string[] = [];
  for (const v of vars) {
    const value = env[v];
    if (value) found[v] = value;
    else missing.push(v);
  }
  if (missing.length === 0) return { available: true, env: found };
  const message = `real ${name} server not available (missing ${missing.join(', ')}); run the suite through \`pnpm test\` with the server installed (see scripts/services/)`;
  if (env.CI === 'true' || env.CI === '1') throw new Error(`${message} — failing because CI=true`);
  process.stderr.write(`\n!!! SKIPPING ${name} suites: ${message}\n\n`);
  return { available: false, env: found };
}
