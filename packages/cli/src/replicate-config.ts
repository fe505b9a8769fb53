import { basename, resolve } from 'node:path';
import { count, type ConfigFile, type Retention, DEFAULT_RETENTION } from './config.js';
import { parseDuration } from './duration.js';
import { CliError } from './errors.js';
import { stringList } from './config.js';
import { parseStorageUrl, type StorageTarget } from './urls.js';

/** One database of `hadb replicate`, resolved. */
export interface ReplicatedDb {
  readonly path: string;
  readonly name: string;
  /** The storage URL (as written, for display) and its parsed target. */
  readonly url: string;
  readonly target: StorageTarget;
  readonly ageIdentities: readonly string[];
  readonly ageRecipients: readonly string[];
  readonly syncIntervalMs: number | undefined;
  readonly checkpointIntervalMs: number | undefined;
  readonly minCheckpointPages: number | undefined;
  readonly snapshotIntervalMs: number | undefined;
  /** GFS tiers applied every `retentionIntervalMs`, or `undefined` (keep everything). */
  readonly retention: Retention | undefined;
  readonly retentionIntervalMs: number;
}

const DB_KEYS = new Set([
  'path',
  'name',
  'replicas',
  'replica',
  'sync-interval',
  'checkpoint-interval',
  'min-checkpoint-pages',
  'snapshot-interval',
  'retention',
  'retention-interval',
]);
const REPLICA_KEYS = new Set([
  'url',
  'type',
  'bucket',
  'path',
  'endpoint',
  'region',
  'force-path-style',
  'age-recipients',
  'age-identities',
]);

function invalid(message: string): CliError {
  return new CliError('HADB_CLI_INVALID_CONFIG', message);
}

function mapping(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${where} must be a mapping`);
  return value as Record<string, unknown>;
}

function str(obj: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') throw invalid(`${where}.${key} must be a non-empty string`);
  return v;
}

/** The storage URL of a replica written as `url:` or as `type:` + fields (Litestream's shape). */
function replicaUrl(r: Record<string, unknown>, where: string): string {
  const url = str(r, 'url', where);
  const type = str(r, 'type', where);
  if (url !== undefined) {
    if (type !== undefined || r.bucket !== undefined) throw invalid(`${where}: give url or type/bucket/path, not both`);
    return url;
  }
  const path = str(r, 'path', where);
  switch (type) {
    case 'file':
      if (path === undefined) throw invalid(`${where}: a file replica needs path`);
      return path;
    case 's3': {
      const bucket = str(r, 'bucket', where);
      if (bucket === undefined) throw invalid(`${where}: an s3 replica needs bucket`);
      const q = new URLSearchParams();
      for (const k of ['endpoint', 'region', 'force-path-style'] as const) {
        const v = r[k];
        if (v !== undefined && v !== null) q.set(k, String(v));
      }
      const qs = q.toString();
      return `s3://${bucket}/${(path ?? '').replace(/^\/+/, '')}${qs === '' ? '' : `?${qs}`}`;
    }
    case undefined:
      throw invalid(`${where}: a replica needs url, or type (s3 or file)`);
    default:
      throw invalid(`${where}: unsupported replica type "${type}" (s3, file)`);
  }
}

function retentionOf(value: unknown, where: string): Retention {
  const r = mapping(value, where);
  const out: Record<string, number> = { ...DEFAULT_RETENTION };
  for (const [k, v] of Object.entries(r)) {
    if (!(k in DEFAULT_RETENTION)) throw invalid(`${where}: unknown key "${k}" (hourly, daily, weekly, monthly)`);
    out[k] = count(v, `${where}.${k}`);
  }
  return out as unknown as Retention;
}

/**
 * Resolves the `dbs:` list of a config file (Litestream/Replicate shape, `${ENV}` already
 * expanded): each database has a `path`, an optional `name` (default: the file's base name) and
 * exactly one replica (`replicas: [ { url | type, bucket, path, endpoint, region, age-* } ]`, or
 * the file's top-level `storage`), intervals as durations, and optional GFS `retention`.
 */
export function resolveReplicatedDbs(config: ConfigFile, env: NodeJS.ProcessEnv): ReplicatedDb[] {
  const where0 = config.path;
  if (config.dbs === undefined || config.dbs.length === 0)
    throw invalid(`${where0}: dbs is empty; list the databases to replicate`);
  const names = new Set<string>();
  return config.dbs.map((raw, i) => {
    const where = `${where0}: dbs[${i}]`;
    const d = mapping(raw, where);
    for (const k of Object.keys(d)) if (!DB_KEYS.has(k)) throw invalid(`${where}: unknown key "${k}"`);
    const path = str(d, 'path', where);
    if (path === undefined) throw invalid(`${where}: path is required`);
    const name = str(d, 'name', where) ?? basename(path);
    if (!/^[A-Za-z0-9._-]+$/.test(name) || name === '.' || name === '..')
      throw invalid(`${where}: name "${name}" must match [A-Za-z0-9._-]+`);
    if (names.has(name)) throw invalid(`${where}: database name "${name}" is used twice`);
    names.add(name);
    const replicas = d.replicas ?? (d.replica === undefined ? undefined : [d.replica]);
    let url: string;
    let ageIdentities: string[] = [...config.ageIdentities];
    let ageRecipients: string[] = [...config.ageRecipients];
    if (replicas === undefined || replicas === null) {
      if (config.storage === undefined) throw invalid(`${where}: no replicas and no top-level storage`);
      url = config.storage;
    } else {
      if (!Array.isArray(replicas)) throw invalid(`${where}.replicas must be a list`);
      if (replicas.length !== 1)
        throw invalid(`${where}: exactly one replica per database is supported (got ${replicas.length})`);
      const r = mapping(replicas[0], `${where}.replicas[0]`);
      for (const k of Object.keys(r))
        if (!REPLICA_KEYS.has(k)) throw invalid(`${where}.replicas[0]: unknown key "${k}"`);
      url = replicaUrl(r, `${where}.replicas[0]`);
      if (r['age-identities'] !== undefined)
        ageIdentities = stringList(r['age-identities'], `${where}.replicas[0].age-identities`);
      if (r['age-recipients'] !== undefined)
        ageRecipients = stringList(r['age-recipients'], `${where}.replicas[0].age-recipients`);
    }
    const dur = (key: string): number | undefined =>
      d[key] === undefined || d[key] === null ? undefined : parseDuration(d[key], `${where}.${key}`);
    const retention =
      d.retention === undefined || d.retention === null
        ? config.retention === undefined
          ? undefined
          : { ...DEFAULT_RETENTION, ...config.retention }
        : retentionOf(d.retention, `${where}.retention`);
    return {
      path: resolve(path),
      name,
      url,
      target: parseStorageUrl(url, env),
      ageIdentities,
      ageRecipients,
      syncIntervalMs: dur('sync-interval'),
      checkpointIntervalMs: dur('checkpoint-interval'),
      minCheckpointPages:
        d['min-checkpoint-pages'] === undefined
          ? undefined
          : count(d['min-checkpoint-pages'], `${where}.min-checkpoint-pages`),
      snapshotIntervalMs: dur('snapshot-interval'),
      retention,
      retentionIntervalMs: dur('retention-interval') ?? 3_600_000,
    };
  });
}
