#!/usr/bin/env node
// haqlite serve: one HA SQLite node speaking Hrana over HTTP and WebSocket (the libSQL remote protocol).
//
//   haqlite serve --path app.db --storage file:///var/lib/haqlite/storage --instance node-1 \
//     [--name app] [--listen 127.0.0.1:8080] [--forward-listen 127.0.0.1:0] [--ttl-ms 5000] \
//     [--durability committed|shipped] [--ship-interval-ms 1000]
//
// Secrets come from the environment only: HAQLITE_AUTH_TOKEN (bearer token of the Hrana server;
// required unless --listen is a loopback address) and HAQLITE_SECRET (forwarding between nodes).
// The lease is an object in the same storage. Prints one JSON line per event; SIGTERM or SIGINT
// hands leadership off and exits 0.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import { HaQLite, serve, type Durability } from '../index.js';

const USAGE =
  'usage: haqlite serve --path FILE --storage file:///DIR --instance ID [--name NAME] [--listen HOST:PORT] [--forward-listen HOST:PORT] [--ttl-ms N] [--durability committed|shipped] [--ship-interval-ms N]';

function fail(message: string): never {
  process.stderr.write(`haqlite: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function hostPort(v: string, what: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  const port = Number(v.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) fail(`${what} must be HOST:PORT, got ${v}`);
  return { host: v.slice(0, i).replace(/^\[|\]$/g, ''), port };
}

const out = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ t: new Date().toISOString(), ...o })}\n`);
};

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    path: { type: 'string' },
    storage: { type: 'string' },
    instance: { type: 'string' },
    name: { type: 'string' },
    listen: { type: 'string', default: '127.0.0.1:8080' },
    'forward-listen': { type: 'string', default: '127.0.0.1:0' },
    'ttl-ms': { type: 'string', default: '5000' },
    durability: { type: 'string', default: 'committed' },
    'ship-interval-ms': { type: 'string', default: '1000' },
  },
});
if (positionals[0] !== 'serve') fail('the only command is "serve"');
if (values.path === undefined || values.storage === undefined || values.instance === undefined)
  fail('--path, --storage and --instance are required');
if (!values.storage.startsWith('file://')) fail('--storage must be a file:// URL (a directory)');
const durability = values.durability as Durability;
if (durability !== 'committed' && durability !== 'shipped') fail('--durability must be committed or shipped');
const ttlMs = Number(values['ttl-ms']);
if (!Number.isFinite(ttlMs) || ttlMs < 500) fail('--ttl-ms must be a number of milliseconds >= 500');

const hranaAt = hostPort(values.listen, '--listen');
if (process.env.HAQLITE_AUTH_TOKEN === undefined && !['127.0.0.1', '::1', 'localhost'].includes(hranaAt.host)) {
  fail(`refusing to serve on ${hranaAt.host} without HAQLITE_AUTH_TOKEN (only loopback addresses may run without one)`);
}

const storage = await LocalStorageBackend.open({ root: fileURLToPath(values.storage) });
const lease = new StorageLeaseStore(storage, { prefix: 'leases/' });
const db = await HaQLite.open({
  path: values.path,
  name: values.name,
  storage,
  lease: {
    store: lease,
    ttlMs,
    renewIntervalMs: ttlMs * 0.4,
    pollIntervalMs: Math.max(100, ttlMs / 5),
    skewMarginMs: Math.min(1000, ttlMs / 5),
  },
  instanceId: values.instance,
  listen: hostPort(values['forward-listen'], '--forward-listen'),
  secret: process.env.HAQLITE_SECRET,
  durability,
  shipIntervalMs: Number(values['ship-interval-ms']),
  followerPullIntervalMs: 100,
});
db.on('promoted', () => out({ event: 'promoted', role: db.role }));
db.on('demoted', () => out({ event: 'demoted', role: db.role }));
const server = await serve(db, { ...hranaAt, authToken: process.env.HAQLITE_AUTH_TOKEN });
out({ event: 'open', role: db.role, url: server.url, instance: values.instance });

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await server.close();
  await db.close();
  await lease.close();
  await storage.close();
  out({ event: 'closed' });
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
