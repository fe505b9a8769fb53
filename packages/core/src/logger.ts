/**
 * The logging surface the coordinator uses: pino-compatible (`logger.info({ db }, 'promoted')`),
 * so a pino, bunyan-style or console adapter can be passed directly. Objects never contain
 * credentials; lease and storage errors are logged by `code`.
 */
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const noop = (): void => {};

/** The default logger: discards everything. */
export const silentLogger: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });

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
