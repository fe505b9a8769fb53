import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError } from './errors.js';

/** Where the replicated objects live, parsed from a storage URL. */
export type StorageTarget =
  | { readonly kind: 'file'; readonly root: string }
  | {
      readonly kind: 's3';
      readonly bucket: string;
      /** Key prefix inside the bucket: `""` or ending in `/`. */
      readonly prefix: string;
      readonly endpoint: string | undefined;
      readonly region: string | undefined;
      readonly forcePathStyle: boolean | undefined;
      readonly unquotedIfMatch: boolean;
    };

/** Where the leases live, parsed from a lease URL (`storage` = a lease object beside the data). */
export type LeaseTarget =
  | { readonly kind: 'storage' }
  | { readonly kind: 'nats'; readonly servers: string[]; readonly bucket: string | undefined }
  | { readonly kind: 'etcd'; readonly hosts: string[]; readonly prefix: string | undefined };

function usage(message: string): CliError {
  return new CliError('HADB_CLI_INVALID_CONFIG', message);
}

function parseUrl(text: string, what: string): URL {
  try {
    return new URL(text);
  } catch {
    throw usage(
      `${what} "${redactUrl(text)}" is not a URL (expected for example file:///var/lib/hadb or s3://bucket/prefix)`,
    );
  }
}

function bool(value: string | null, name: string): boolean | undefined {
  if (value === null) return undefined;
  if (value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  throw usage(`storage URL parameter ${name} must be true or false`);
}

const S3_PARAMS = new Set(['endpoint', 'region', 'force-path-style', 'unquoted-if-match']);

/**
 * Parses a storage URL: `file:///abs/dir` (or a plain directory path) and
 * `s3://bucket/prefix?endpoint=http://host:port&region=…&force-path-style=true&unquoted-if-match=true`.
 * Credentials never go into the URL: they come from the AWS variables (see `backends.ts`); a URL
 * with a user or password is refused.
 */
export function parseStorageUrl(text: string, env: NodeJS.ProcessEnv = process.env): StorageTarget {
  if (text === '') throw usage('storage URL is empty');
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    return { kind: 'file', root: isAbsolute(text) ? text : resolve(text) };
  }
  const url = parseUrl(text, 'storage URL');
  if (url.username !== '' || url.password !== '') {
    throw usage('storage URL must not carry credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead');
  }
  switch (url.protocol) {
    case 'file:': {
      if (url.host !== '' && url.host !== 'localhost') throw usage('file URL must be file:///absolute/path');
      return { kind: 'file', root: fileURLToPath(url) };
    }
    case 's3:': {
      const bucket = url.hostname;
      if (bucket === '') throw usage('s3 URL needs a bucket: s3://bucket/prefix');
      for (const key of url.searchParams.keys()) {
        if (!S3_PARAMS.has(key)) throw usage(`unknown s3 URL parameter "${key}" (known: ${[...S3_PARAMS].join(', ')})`);
      }
      let prefix = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
      if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
      const endpoint = url.searchParams.get('endpoint') ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? undefined;
      if (endpoint !== undefined) parseUrl(endpoint, 's3 endpoint');
      const region = url.searchParams.get('region') ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? undefined;
      return {
        kind: 's3',
        bucket,
        prefix,
        endpoint: endpoint === '' ? undefined : endpoint,
        region: region === '' ? undefined : region,
        forcePathStyle: bool(url.searchParams.get('force-path-style'), 'force-path-style'),
        unquotedIfMatch: bool(url.searchParams.get('unquoted-if-match'), 'unquoted-if-match') ?? false,
      };
    }
    default:
      throw usage(`unsupported storage URL scheme "${url.protocol.slice(0, -1)}" (supported: file, s3)`);
  }
}

/**
 * Parses a lease URL: `nats://host:4222[,host2:4222][?bucket=NAME]`, `etcd://host:2379[?prefix=P]`
 * (the etcd client talks http), or `storage` (the default: the lease object `{db}/_lease.json`
 * next to the data, by conditional writes).
 */
export function parseLeaseUrl(text: string | undefined): LeaseTarget {
  if (text === undefined || text === '' || text === 'storage') return { kind: 'storage' };
  const url = parseUrl(text.split(',')[0]!.replace(/^(nats|etcd):\/\/([^/?]*).*$/, '$1://$2'), 'lease URL');
  if (url.username !== '' || url.password !== '') throw usage('lease URL must not carry credentials');
  const hostsOf = (scheme: string): string[] => {
    const rest = text.slice(`${scheme}://`.length).split(/[/?]/)[0]!;
    const hosts = rest.split(',').filter((h) => h !== '');
    if (hosts.length === 0) throw usage(`${scheme} lease URL needs a host: ${scheme}://host:port`);
    return hosts;
  };
  const query = new URLSearchParams(text.includes('?') ? text.slice(text.indexOf('?') + 1) : '');
  switch (url.protocol) {
    case 'nats:':
      return {
        kind: 'nats',
        servers: hostsOf('nats').map((h) => `nats://${h}`),
        bucket: query.get('bucket') ?? undefined,
      };
    case 'etcd:':
      return {
        kind: 'etcd',
        hosts: hostsOf('etcd').map((h) => `http://${h}`),
        prefix: query.get('prefix') ?? undefined,
      };
    default:
      throw usage(`unsupported lease URL scheme "${url.protocol.slice(0, -1)}" (supported: nats, etcd, storage)`);
  }
}

/** The URL with any user, password and secret-looking query value replaced by `****`. */
export function redactUrl(text: string): string {
  return text
    .replace(/(\/\/)[^/@?#]*@/, '$1****@')
    .replace(/([?&](?:[^=&]*(?:secret|token|password|key|credential)[^=&]*)=)[^&#]*/gi, '$1****');
}
