import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { expandEnv } from './env-expand.js';
import { CliError } from './errors.js';

/** Where a resolved setting came from (printed by `hadb explain`). */
export type Source = 'flag' | 'env' | 'config' | 'default';

/** A setting and its origin. */
export interface Resolved<T> {
  readonly value: T;
  readonly source: Source;
}

/** Grandfather-father-son retention: how many snapshots to keep per period. */
export interface Retention {
  readonly hourly: number;
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
}

/** The retention used when neither flags nor the config file set one (`@hadb/changeset`'s defaults). */
export const DEFAULT_RETENTION: Retention = Object.freeze({ hourly: 24, daily: 7, weekly: 12, monthly: 12 });

/** The parsed config file (after `${ENV}` expansion). Unknown keys are refused. */
export interface ConfigFile {
  readonly path: string;
  readonly storage: string | undefined;
  readonly lease: string | undefined;
  readonly retention: Partial<Retention> | undefined;
  /** Age identities (keys or identity files) and recipients for encrypted storage. */
  readonly ageIdentities: readonly string[];
  readonly ageRecipients: readonly string[];
  /** The raw `dbs:` list, validated by the commands that use it. */
  readonly dbs: readonly unknown[] | undefined;
  /** The raw `admin:` mapping of `hadb replicate` (see `admin-config.ts`). */
  readonly admin: unknown;
}

/** Global settings after flags, environment and config file are combined. */
export interface Settings {
  readonly config: ConfigFile | undefined;
  readonly storage: Resolved<string> | undefined;
  readonly lease: Resolved<string>;
  /** Age identities and recipients for the storage (flags, then env, then config). */
  readonly age: Resolved<{ readonly identities: readonly string[]; readonly recipients: readonly string[] }>;
  readonly env: NodeJS.ProcessEnv;
}

/** Global flags of every command. */
export interface GlobalFlags {
  readonly storage?: string | undefined;
  readonly lease?: string | undefined;
  readonly config?: string | undefined;
  readonly ageIdentity?: readonly string[] | undefined;
}

function invalid(message: string): CliError {
  return new CliError('HADB_CLI_INVALID_CONFIG', message);
}

function expandDeep(value: unknown, env: NodeJS.ProcessEnv, where: string): unknown {
  if (typeof value === 'string') return expandEnv(value, env, where);
  if (Array.isArray(value)) return value.map((v, i) => expandDeep(v, env, `${where}[${i}]`));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandDeep(v, env, `${where}.${k}`)]));
  }
  return value;
}

const TOP_KEYS = new Set(['storage', 'lease', 'retention', 'dbs', 'age-identities', 'age-recipients', 'admin']);
const RETENTION_KEYS = new Set(['hourly', 'daily', 'weekly', 'monthly']);

/** A non-negative integer setting; strings from `${ENV}` expansion are accepted. */
export function count(value: unknown, where: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
    throw invalid(`${where} must be a non-negative integer`);
  return n;
}

/** A list of strings (a single string is a list of one); absent is empty. */
export function stringList(value: unknown, where: string): string[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  for (const v of list)
    if (typeof v !== 'string' || v === '') throw invalid(`${where} must be a string or a list of strings`);
  return list as string[];
}

/** Reads and validates a YAML config file, expanding `${ENV}` in every string value. */
export async function loadConfigFile(path: string, env: NodeJS.ProcessEnv): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw invalid(`cannot read config file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    throw invalid(`config file ${path} is not valid YAML: ${first.message.split('\n')[0]}`);
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw invalid(`config file ${path} must be a YAML mapping`);
  for (const key of Object.keys(raw)) if (!TOP_KEYS.has(key)) throw invalid(`${path}: unknown key "${key}"`);
  const obj = expandDeep(raw, env, path) as Record<string, unknown>;
  const str = (key: string): string | undefined => {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw invalid(`${path}: ${key} must be a string`);
    return v;
  };
  let retention: Partial<Retention> | undefined;
  if (obj.retention !== undefined && obj.retention !== null) {
    if (typeof obj.retention !== 'object' || Array.isArray(obj.retention))
      throw invalid(`${path}: retention must be a mapping`);
    const r: Record<string, number> = {};
    for (const [k, v] of Object.entries(obj.retention)) {
      if (!RETENTION_KEYS.has(k))
        throw invalid(`${path}: unknown retention key "${k}" (hourly, daily, weekly, monthly)`);
      r[k] = count(v, `${path}: retention.${k}`);
    }
    retention = r;
  }
  if (obj.dbs !== undefined && obj.dbs !== null && !Array.isArray(obj.dbs))
    throw invalid(`${path}: dbs must be a list`);
  return {
    path,
    storage: str('storage'),
    lease: str('lease'),
    retention,
    ageIdentities: stringList(obj['age-identities'], `${path}: age-identities`),
    ageRecipients: stringList(obj['age-recipients'], `${path}: age-recipients`),
    dbs: (obj.dbs as unknown[] | undefined) ?? undefined,
    admin: obj.admin,
  };
}

/**
 * Combines the global flags, the environment (`HADB_STORAGE`, `HADB_LEASE`, `HADB_CONFIG`) and the
 * config file, in that order of precedence.
 */
export async function resolveSettings(flags: GlobalFlags, env: NodeJS.ProcessEnv): Promise<Settings> {
  const configPath = flags.config ?? (env.HADB_CONFIG === '' ? undefined : env.HADB_CONFIG);
  const config = configPath === undefined ? undefined : await loadConfigFile(configPath, env);
  const pick = (
    flag: string | undefined,
    envName: string,
    fromConfig: string | undefined,
  ): Resolved<string> | undefined => {
    if (flag !== undefined) return { value: flag, source: 'flag' };
    const e = env[envName];
    if (e !== undefined && e !== '') return { value: e, source: 'env' };
    if (fromConfig !== undefined) return { value: fromConfig, source: 'config' };
    return undefined;
  };
  return {
    config,
    storage: pick(flags.storage, 'HADB_STORAGE', config?.storage),
    lease: pick(flags.lease, 'HADB_LEASE', config?.lease) ?? { value: 'storage', source: 'default' },
    age:
      flags.ageIdentity !== undefined && flags.ageIdentity.length > 0
        ? { value: { identities: flags.ageIdentity, recipients: config?.ageRecipients ?? [] }, source: 'flag' }
        : env.HADB_AGE_IDENTITY_FILE !== undefined && env.HADB_AGE_IDENTITY_FILE !== ''
          ? {
              value: { identities: [env.HADB_AGE_IDENTITY_FILE], recipients: config?.ageRecipients ?? [] },
              source: 'env',
            }
          : config !== undefined && config.ageIdentities.length > 0
            ? { value: { identities: config.ageIdentities, recipients: config.ageRecipients }, source: 'config' }
            : { value: { identities: [], recipients: config?.ageRecipients ?? [] }, source: 'default' },
    env,
  };
}

/** The storage URL, or `HADB_CLI_INVALID_CONFIG` telling how to give one. */
export function requireStorage(settings: Settings): string {
  if (settings.storage === undefined) {
    throw invalid('no storage given: pass --storage URL, set HADB_STORAGE, or set storage: in the config file');
  }
  return settings.storage.value;
}
