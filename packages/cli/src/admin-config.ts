import { hostname } from 'node:os';
import type { EngineAdminOptions } from '@hadb/admin';
import { parseDuration } from './duration.js';
import { CliError } from './errors.js';

/** The admin server of `hadb replicate`, resolved from `--admin`, the environment and `admin:`. */
export interface ReplicateAdmin {
  /** Server options (`host`, `port`, `token`, `webhooks`, `heartbeat`, `maxLagSeconds`). */
  readonly server: EngineAdminOptions;
  /** The `node` name of this process; with several replica groups each gets ` (replica URL)` appended. */
  readonly node: string;
  /** Where `host:port` came from. */
  readonly from: 'flag' | 'env' | 'config';
}

const ADMIN_KEYS = new Set(['listen', 'token', 'node', 'max-lag', 'webhooks', 'heartbeat']);
const WEBHOOK_KEYS = new Set(['url', 'secret', 'events']);
const HEARTBEAT_KEYS = new Set(['url', 'interval']);

function invalid(message: string): CliError {
  return new CliError('HADB_CLI_INVALID_CONFIG', message);
}

function mapping(value: unknown, where: string, keys: ReadonlySet<string>): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${where} must be a mapping`);
  for (const k of Object.keys(value)) if (!keys.has(k)) throw invalid(`${where}: unknown key "${k}"`);
  return value as Record<string, unknown>;
}

function text(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '') throw invalid(`${where} must be a non-empty string`);
  return value;
}

/**
 * Parses `host:port`, `[ipv6]:port`, `:port` or `port` (host default `127.0.0.1`). Port `0`
 * picks a free one.
 */
export function parseListen(value: string, where: string): { host: string; port: number } {
  const m = /^(?:(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]*)):)?(\d{1,5})$/.exec(value.trim());
  const port = m === null ? Number.NaN : Number(m[3]);
  if (m === null || port > 65535)
    throw invalid(`${where} must be host:port, [ipv6]:port or a port (got ${JSON.stringify(value)})`);
  const host = m[1] ?? m[2];
  return { host: host === undefined || host === '' ? '127.0.0.1' : host, port };
}

/** The config file's `admin.webhooks` list as `@hadb/admin` webhook options; `undefined` when absent. */
function resolveWebhooks(value: unknown, where: string): EngineAdminOptions['webhooks'] {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw invalid(`${where}: admin.webhooks must be a list`);
  return {
    targets: value.map((raw, i) => {
      const w = mapping(raw, `${where}: admin.webhooks[${i}]`, WEBHOOK_KEYS);
      const url = text(w.url, `${where}: admin.webhooks[${i}].url`);
      if (url === undefined) throw invalid(`${where}: admin.webhooks[${i}] needs url`);
      const secret = text(w.secret, `${where}: admin.webhooks[${i}].secret`);
      const events = w.events;
      if (events !== undefined && (!Array.isArray(events) || events.some((e) => typeof e !== 'string')))
        throw invalid(`${where}: admin.webhooks[${i}].events must be a list of event names`);
      return {
        url,
        ...(secret === undefined ? {} : { secret }),
        ...(events === undefined ? {} : { events: events as never[] }),
      };
    }),
  };
}

/** Where a one-shot command (`hadb restore`) sends its events: the config file's `admin.webhooks`. */
export interface CommandWebhooks {
  readonly webhooks: NonNullable<EngineAdminOptions['webhooks']>;
  /** The `node` the events name (`admin.node`, default: the host name). */
  readonly node: string;
}

/**
 * The webhooks of the config file's `admin:` section for commands that run no admin server, or
 * `undefined` when it lists none. Only `webhooks` and `node` are used (`listen`, `token`,
 * `heartbeat` belong to `hadb replicate`'s server); the section is checked as for `replicate`.
 */
export function resolveCommandWebhooks(config: unknown, where: string): CommandWebhooks | undefined {
  if (config === undefined || config === null) return undefined;
  const a = mapping(config, `${where}: admin`, ADMIN_KEYS);
  const webhooks = resolveWebhooks(a.webhooks, where);
  if (webhooks === undefined || webhooks.targets.length === 0) return undefined;
  return { webhooks, node: text(a.node, `${where}: admin.node`) ?? hostname() };
}

/**
 * The admin options of `hadb replicate`, or `undefined` when none of `--admin`, `HADB_ADMIN` and
 * the config file's `admin.listen` is set. Secrets never come from the command line (every
 * process can read another's arguments): the bearer token is `HADB_ADMIN_TOKEN` or the config
 * file's `admin.token` (write `${HADB_ADMIN_TOKEN}` there), webhook secrets come from the config
 * file. The token rules are `@hadb/admin`'s: at least 16 characters, required off loopback.
 */
export function resolveReplicateAdmin(
  flag: string | undefined,
  config: unknown,
  env: NodeJS.ProcessEnv,
  where: string,
): ReplicateAdmin | undefined {
  const a = config === undefined || config === null ? {} : mapping(config, `${where}: admin`, ADMIN_KEYS);
  const fromEnv = env.HADB_ADMIN === '' ? undefined : env.HADB_ADMIN;
  const fromConfig = text(a.listen, `${where}: admin.listen`);
  const listen = flag ?? fromEnv ?? fromConfig;
  if (listen === undefined) {
    if (Object.keys(a).length > 0) throw invalid(`${where}: admin needs listen (or pass --admin host:port)`);
    return undefined;
  }
  const from = flag !== undefined ? 'flag' : fromEnv !== undefined ? 'env' : 'config';
  const { host, port } = parseListen(
    listen,
    from === 'flag' ? '--admin' : from === 'env' ? 'HADB_ADMIN' : `${where}: admin.listen`,
  );
  const token =
    env.HADB_ADMIN_TOKEN !== undefined && env.HADB_ADMIN_TOKEN !== ''
      ? env.HADB_ADMIN_TOKEN
      : text(a.token, `${where}: admin.token`);
  const maxLag = a['max-lag'] === undefined ? undefined : parseDuration(a['max-lag'], `${where}: admin.max-lag`);
  const webhooks = resolveWebhooks(a.webhooks, where);
  let heartbeat: EngineAdminOptions['heartbeat'];
  if (a.heartbeat !== undefined && a.heartbeat !== null) {
    const h = mapping(a.heartbeat, `${where}: admin.heartbeat`, HEARTBEAT_KEYS);
    const url = text(h.url, `${where}: admin.heartbeat.url`);
    if (url === undefined) throw invalid(`${where}: admin.heartbeat needs url`);
    const interval =
      h.interval === undefined ? undefined : parseDuration(h.interval, `${where}: admin.heartbeat.interval`);
    heartbeat = { url, ...(interval === undefined ? {} : { intervalMs: interval }) };
  }
  return {
    server: {
      host,
      port,
      ...(token === undefined ? {} : { token }),
      ...(maxLag === undefined ? {} : { maxLagSeconds: maxLag / 1000 }),
      ...(webhooks === undefined ? {} : { webhooks }),
      ...(heartbeat === undefined ? {} : { heartbeat }),
    },
    node: text(a.node, `${where}: admin.node`) ?? hostname(),
    from,
  };
}
