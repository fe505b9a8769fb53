/**
 * The one logging surface of every hadb package: pino-compatible (`logger.info({ db }, 'promoted')`),
 * so pino, a bunyan-style logger or {@link consoleLogger} can be passed directly. Every package
 * defaults to {@link silentLogger}. Logged objects never contain credentials or key material;
 * errors are logged through {@link describeError} (name, code, message).
 */
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Log levels, least to most severe. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const noop = (): void => {};

/** The default logger: discards everything. */
export const silentLogger: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/**
 * A logger writing one JSON line per record (`{ level, time, msg, ...obj }`) to `write` (default:
 * standard error), dropping records below `level`.
 */
export function consoleLogger(
  level: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Logger {
  const min = LEVELS.indexOf(level);
  const at =
    (l: LogLevel) =>
    (obj: object, msg: string): void => {
      if (LEVELS.indexOf(l) < min) return;
      write(JSON.stringify({ level: l, time: new Date().toISOString(), msg, ...obj }, jsonSafe));
    };
  return Object.freeze({ debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') });
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return describeError(value);
  return value;
}

/** A compact, log-safe description of an error (name, code, message; no stack, no cause chain). */
export function describeError(err: unknown): { name: string; code?: string; message: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string'
      ? { name: err.name, code, message: err.message }
      : { name: err.name, message: err.message };
  }
  return { name: 'NonError', message: String(err) };
}
