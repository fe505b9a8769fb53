import { CliError } from './errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration in ms from `250ms`, `1s`, `5m`, `24h`, `7d`, combinations such as `1h30m`, or a bare
 * number of milliseconds. `0` turns a periodic task off where documented.
 */
export function parseDuration(value: unknown, where: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string') {
    const text = value.trim();
    if (/^\d+$/.test(text)) return Number(text);
    const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
    if (parts.length > 0 && parts.map((p) => p[0]).join('') === text) {
      return Math.round(parts.reduce((n, p) => n + Number(p[1]) * UNITS[p[2]!]!, 0));
    }
  }
  throw new CliError(
    'HADB_CLI_INVALID_CONFIG',
    `${where} must be a duration such as 500ms, 1s, 5m, 24h (got ${JSON.stringify(value)})`,
  );
}
