import { parseArgs } from 'node:util';
import { UsageError } from './usage-error.js';

/** Every flag and the environment variable it can also come from. */
export const FLAGS = {
  storage: 'HADUCK_STORAGE',
  lease: 'HADUCK_LEASE',
  path: 'HADUCK_PATH',
  db: 'HADUCK_DB',
  prefix: 'HADUCK_PREFIX',
  instance: 'HADUCK_INSTANCE',
  listen: 'HADUCK_LISTEN',
  address: 'HADUCK_ADDRESS',
  'ttl-ms': 'HADUCK_TTL_MS',
  'checkpoint-ms': 'HADUCK_CHECKPOINT_MS',
  'pull-ms': 'HADUCK_PULL_MS',
  'write-rate': 'HADUCK_WRITE_RATE',
  writer: 'HADUCK_WRITER',
  durability: 'HADUCK_DURABILITY',
  'log-level': 'HADUCK_LOG_LEVEL',
} as const;

export type Flag = keyof typeof FLAGS;

/** One setting's value and where it came from, as the user wrote it (`--ttl-ms` or `HADUCK_TTL_MS`). */
export interface Setting {
  readonly value: string;
  readonly source: string;
}

/** The command line: the command and its arguments (positionals) and every setting given. */
export interface CommandLine {
  readonly positionals: readonly string[];
  readonly settings: Partial<Record<Flag, Setting>>;
}

/** Reads flags (which win) and environment variables. */
export function readCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): CommandLine {
  const options = Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: 'string' as const }]));
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; strict: true; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (err) {
    // Unknown flag, or a flag without its value.
    throw new UsageError(`${err instanceof Error ? err.message.split(/\.\s|\n/)[0] : String(err)} (see --help)`);
  }
  const { values, positionals } = parsed;
  const settings: Partial<Record<Flag, Setting>> = {};
  for (const [flag, name] of Object.entries(FLAGS) as [Flag, string][]) {
    const fromFlag = (values as Record<string, string | undefined>)[flag];
    if (fromFlag !== undefined && fromFlag !== '') settings[flag] = { value: fromFlag, source: `--${flag}` };
    else if (env[name] !== undefined && env[name] !== '') settings[flag] = { value: env[name]!, source: name };
  }
  return { positionals, settings };
}

/** `HADUCK_TTL_MS=abc` or `--ttl-ms abc`: how to name a setting in an error. */
export function named(setting: Setting): string {
  return setting.source.startsWith('--') ? `${setting.source} ${setting.value}` : `${setting.source}=${setting.value}`;
}
