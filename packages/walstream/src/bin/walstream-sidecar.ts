#!/usr/bin/env node
/**
 * walstream-sidecar: replicate SQLite databases written by another process.
 *
 *   walstream-sidecar --storage local:/var/backups/db [--prefix p/] [--sync-interval-ms 1000] app.db other.db
 *   walstream-sidecar --storage s3://bucket [--endpoint http://127.0.0.1:7480] [--region us-east-1] app.db
 *
 * S3 credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (never from arguments).
 * Events are printed to stdout as JSON lines; SIGTERM / SIGINT ship what is committed and exit 0.
 */
import { parseArgs } from 'node:util';
import type { StorageBackend } from '@hadb/storage';
import { consoleLogger } from '@hadb/io';
import { runSidecar } from '../sidecar.js';
import type { WalstreamEvent } from '../events.js';

function line(obj: unknown): void {
  process.stdout.write(
    `${JSON.stringify(obj, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Error ? { code: (v as { code?: string }).code, message: v.message } : v))}\n`,
  );
}

async function openStorage(spec: string, values: Record<string, string | undefined>): Promise<StorageBackend> {
  if (spec.startsWith('local:') || spec.startsWith('file:')) {
    const root = spec.replace(/^(local:|file:\/\/|file:)/, '');
    const { LocalStorageBackend } = await import('@hadb/storage-local');
    return LocalStorageBackend.open({ root });
  }
  if (spec.startsWith('s3://')) {
    const bucket = spec.slice(5).replace(/\/+$/, '');
    const { S3StorageBackend } = await import('@hadb/storage-s3');
    const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
    return S3StorageBackend.open({
      bucket,
      endpoint: values.endpoint,
      region: values.region ?? process.env.AWS_REGION ?? 'us-east-1',
      ...(accessKeyId !== undefined && secretAccessKey !== undefined
        ? { credentials: { accessKeyId, secretAccessKey } }
        : {}),
      unquotedIfMatch: process.env.HADB_S3_UNQUOTED_IF_MATCH === '1',
    } as Parameters<typeof S3StorageBackend.open>[0]);
  }
  throw new Error(`--storage must be local:<dir> or s3://<bucket>, got '${spec}'`);
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      storage: { type: 'string' },
      prefix: { type: 'string' },
      endpoint: { type: 'string' },
      region: { type: 'string' },
      'sync-interval-ms': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help === true || values.storage === undefined || positionals.length === 0) {
    process.stderr.write(
      'usage: walstream-sidecar --storage local:<dir>|s3://<bucket> [--prefix p/] [--endpoint url] [--sync-interval-ms n] db...\n',
    );
    return values.help === true ? 0 : 2;
  }
  const storage = await openStorage(values.storage, values as Record<string, string | undefined>);
  const controller = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => controller.abort());
  try {
    await runSidecar(
      {
        storage,
        prefix: values.prefix,
        syncIntervalMs: values['sync-interval-ms'] === undefined ? undefined : Number(values['sync-interval-ms']),
        logger: consoleLogger((values['log-level'] ?? 'warn') as 'warn'),
        onEvent: (e: WalstreamEvent) => line(e),
        databases: positionals,
        onReady: (rs) => line({ type: 'ready', databases: rs.map((r) => ({ name: r.name, seq: r.status().seq })) }),
      },
      { signal: controller.signal },
    );
    line({ type: 'stopped' });
    return 0;
  } finally {
    await storage.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`walstream-sidecar: ${(err as { code?: string }).code ?? ''} ${(err as Error).message}\n`);
    process.exit(1);
  },
);
