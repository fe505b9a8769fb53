/** Prints one JSON line on stdout: `{"event": ..., "t": <ms since epoch>, ...}` (the demo parses these). */
export function log(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(
    `${JSON.stringify({ event, t: Date.now(), ...fields }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`,
  );
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];

/**
 * A pino-compatible logger for haduck and the hadb libraries: one JSON line per entry on stderr
 * (stdout carries the events), entries below `level` dropped.
 */
export function stderrLogger(level: string): Record<Level, (obj: Record<string, unknown>, msg?: string) => void> {
  const min = LEVELS.indexOf(level as Level);
  if (min < 0) throw new Error(`log level must be one of ${LEVELS.join(', ')}`);
  const entry = (l: Level) => (obj: Record<string, unknown>, msg?: string) => {
    if (LEVELS.indexOf(l) < min) return;
    process.stderr.write(
      `${JSON.stringify({ level: l, t: Date.now(), msg, ...obj }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`,
    );
  };
  return { debug: entry('debug'), info: entry('info'), warn: entry('warn'), error: entry('error') };
}
