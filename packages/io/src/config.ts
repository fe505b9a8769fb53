/**
 * Option checking shared by every package. Bad configuration is always reported at construction
 * as the package's `HADB_<PACKAGE>_INVALID_CONFIG` error naming the option; it is never clamped,
 * ignored or deferred to first use.
 *
 * @example
 * const check = configChecker((msg) => new DuckblockError('HADB_DUCKBLOCK_INVALID_CONFIG', msg));
 * const ttlMs = check.int('lease.ttlMs', options.lease?.ttlMs, { min: 100, default: 5000 });
 */
import type { ErrorFactory } from './hadb-error.js';

/** Bounds and default of a numeric option. */
export interface NumberRule {
  readonly min?: number;
  readonly max?: number;
  /** Used when the value is `undefined`; without it, `undefined` is an error. */
  readonly default?: number;
}

/** Checks options, throwing the package's INVALID_CONFIG error (built by the factory). */
export interface ConfigChecker {
  /** A finite integer within the bounds (or the default when undefined). */
  int(name: string, value: unknown, rule?: NumberRule): number;
  /** A finite number within the bounds (or the default when undefined). */
  number(name: string, value: unknown, rule?: NumberRule): number;
  /** A boolean (or the default when undefined). */
  bool(name: string, value: unknown, fallback?: boolean): boolean;
  /** A non-empty string (or the default when undefined). */
  string(name: string, value: unknown, fallback?: string): string;
  /** One of `allowed` (or the default when undefined). */
  oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[], fallback?: T): T;
  /** Throws unless `ok`, with `message` (which should name the option). */
  require(ok: boolean, message: string): asserts ok;
  /** Throws the INVALID_CONFIG error with `message`. */
  fail(message: string): never;
}

/** Makes a {@link ConfigChecker} throwing `toError(message)`. */
export function configChecker(toError: ErrorFactory): ConfigChecker {
  const fail = (message: string): never => {
    throw toError(message);
  };
  const num = (name: string, value: unknown, rule: NumberRule, integer: boolean): number => {
    if (value === undefined) {
      if (rule.default !== undefined) return rule.default;
      return fail(`${name} is required`);
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
      return fail(`${name} must be a finite ${integer ? 'integer' : 'number'}, got ${show(value)}`);
    }
    if (rule.min !== undefined && value < rule.min) return fail(`${name} must be >= ${rule.min}, got ${value}`);
    if (rule.max !== undefined && value > rule.max) return fail(`${name} must be <= ${rule.max}, got ${value}`);
    return value;
  };
  return Object.freeze({
    int: (name: string, value: unknown, rule: NumberRule = {}) => num(name, value, rule, true),
    number: (name: string, value: unknown, rule: NumberRule = {}) => num(name, value, rule, false),
    bool(name: string, value: unknown, fallback?: boolean): boolean {
      if (value === undefined && fallback !== undefined) return fallback;
      if (typeof value !== 'boolean') return fail(`${name} must be a boolean, got ${show(value)}`);
      return value;
    },
    string(name: string, value: unknown, fallback?: string): string {
      if (value === undefined && fallback !== undefined) return fallback;
      if (typeof value !== 'string' || value.length === 0) return fail(`${name} must be a non-empty string`);
      return value;
    },
    oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[], fallback?: T): T {
      if (value === undefined && fallback !== undefined) return fallback;
      if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
        return fail(`${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${show(value)}`);
      }
      return value as T;
    },
    require(ok: boolean, message: string): asserts ok {
      if (!ok) fail(message);
    },
    fail,
  });
}

function show(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  return typeof value;
}
