import { FLAGS, type Flag } from './settings.js';
import { UsageError } from './usage-error.js';

export { UsageError };

const DESCRIPTIONS: Record<Flag, string> = {
  storage: '`local:<dir>` or `s3:<bucket>[/<prefix>]` (default: a temporary directory, removed at exit)',
  lease: '`storage`, `nats:<url>[,<url>…]` or `etcd:<url>[,<url>…]` (default `storage`)',
  path: 'local DuckDB file (default: <temporary directory>/<instance>.duckdb)',
  db: 'database name: storage keys and lease scope (default `demo`)',
  prefix: 'key prefix in storage (default `haduck/`)',
  instance: "this node's id (default `node-<pid>`)",
  listen: 'forwarding server bind address host:port (default `127.0.0.1:0`)',
  address: 'URL other nodes forward writes to (default `http://<listen>`)',
  'ttl-ms': 'lease TTL in ms (default 5000)',
  'checkpoint-ms': 'checkpoint interval in ms while there are changes (default 1000)',
  'pull-ms': 'follower poll interval in ms (default 250)',
  'write-rate': 'rows per second the `run` command writes (leader default 20, follower 0)',
  writer: 'writer name stored in demo rows (default: the instance id)',
  durability: '`shipped` (acknowledged once in storage, default) or `committed`',
  'log-level': '`debug`, `info`, `warn` (default) or `error`: library log lines on stderr',
};

/** The `--help` text of a haduck example program. */
export function usage(program: string, runDoes: string): string {
  const flags = (Object.keys(FLAGS) as Flag[])
    .map((f) => `  --${f.padEnd(14)} ${FLAGS[f].padEnd(21)} ${DESCRIPTIONS[f]}`)
    .join('\n');
  return `usage: ${program} [run] [flags]           ${runDoes}
       ${program} insert <id> <text> [flags] insert the row (id, text) into notes(id BIGINT, body VARCHAR)
       ${program} query [<sql>] [flags]     print the rows of <sql> (default: SELECT id, body FROM notes ORDER BY id)
       ${program} --help

insert and query open a node on the storage you name (HADUCK_STORAGE or --storage), do one thing and
exit; run them against the storage of a running cluster, or twice against the same local:<dir>.

flags (each also read from the environment variable next to it; a flag wins):
${flags}
                  HADUCK_SECRET         forwarding bearer secret (environment only; never printed)

S3 storage also reads HADUCK_S3_ENDPOINT, HADUCK_S3_REGION, HADUCK_S3_UNQUOTED_IF_MATCH=1 (Ceph RGW <= 16)
and AWS credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, profiles); a NATS lease HADUCK_NATS_BUCKET;
an etcd lease HADUCK_ETCD_PREFIX. Events are JSON lines on stdout; errors are one line on stderr.
`;
}

/** Code and message of an error on one line, with its causes. */
export function oneLine(error: unknown): string {
  const parts: string[] = [];
  let e: unknown = error;
  for (let depth = 0; e !== undefined && depth < 4; depth++) {
    if (e instanceof Error) {
      const code = (e as { code?: unknown }).code;
      const text = `${typeof code === 'string' && !e.message.includes(code) ? `${code}: ` : ''}${e.message}`;
      if (!parts.some((p) => p.includes(e instanceof Error ? e.message : ''))) parts.push(text);
      e = e.cause;
    } else {
      parts.push(String(e));
      e = undefined;
    }
  }
  return parts.join(': caused by: ').replace(/\s*\n\s*/g, ' ');
}

/**
 * Runs an example program's main: `--help` prints the usage; any error becomes one line on stderr
 * (`<program>: <what>`), exit 2 for a {@link UsageError} and 1 otherwise. With
 * `HADUCK_LOG_LEVEL=debug` the stack follows.
 */
export async function runCli(
  program: string,
  argv: readonly string[],
  help: string,
  main: () => Promise<void>,
): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(help);
    return;
  }
  try {
    await main();
  } catch (error) {
    process.stderr.write(`${program}: ${oneLine(error)}\n`);
    if (process.env.HADUCK_LOG_LEVEL === 'debug' && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    process.exit(error instanceof UsageError ? 2 : 1);
  }
}
