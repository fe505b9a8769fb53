import { describe, expect, it } from 'vitest';
import { HadbError, configChecker } from '../src/index.js';

class PkgError extends HadbError<'HADB_PKG_INVALID_CONFIG'> {
  override readonly name = 'PkgError';
}
const check = configChecker((message, cause) => new PkgError('HADB_PKG_INVALID_CONFIG', message, { cause }));

function failure(fn: () => unknown): PkgError {
  try {
    fn();
  } catch (error) {
    return error as PkgError;
  }
  throw new Error('expected a throw');
}

describe('configChecker', () => {
  it('int: accepts integers within bounds and uses the default only for undefined', () => {
    expect(check.int('n', 5, { min: 1, max: 10 })).toBe(5);
    expect(check.int('n', undefined, { default: 3 })).toBe(3);
    expect(check.int('n', 1, { min: 1, max: 1 })).toBe(1);
  });

  it('int: rejects (never clamps) out-of-range, fractional, non-finite, non-number and missing values', () => {
    for (const [value, rule] of [
      [0, { min: 1 }],
      [11, { max: 10 }],
      [1.5, {}],
      [Number.NaN, {}],
      [Number.POSITIVE_INFINITY, {}],
      ['5', {}],
      [null, { default: 1 }],
      [undefined, {}],
    ] as const) {
      const error = failure(() => check.int('opts.n', value, rule));
      expect(error.code).toBe('HADB_PKG_INVALID_CONFIG');
      expect(error.message).toContain('opts.n');
    }
    expect(failure(() => check.int('n', 0, { min: 1 })).message).toBe('n must be >= 1, got 0');
  });

  it('number: accepts fractions, rejects non-finite values', () => {
    expect(check.number('x', 0.5, { min: 0 })).toBe(0.5);
    expect(failure(() => check.number('x', Number.NaN)).code).toBe('HADB_PKG_INVALID_CONFIG');
    expect(failure(() => check.number('x', -0.1, { min: 0 })).code).toBe('HADB_PKG_INVALID_CONFIG');
  });

  it('bool, string and oneOf: type-checked with fallbacks', () => {
    expect(check.bool('b', undefined, true)).toBe(true);
    expect(check.bool('b', false, true)).toBe(false);
    expect(failure(() => check.bool('b', 'yes')).message).toBe("b must be a boolean, got 'yes'");
    expect(failure(() => check.bool('b', undefined)).code).toBe('HADB_PKG_INVALID_CONFIG');
    expect(check.string('s', undefined, 'd')).toBe('d');
    expect(check.string('s', 'v')).toBe('v');
    expect(failure(() => check.string('s', '')).code).toBe('HADB_PKG_INVALID_CONFIG');
    expect(failure(() => check.string('s', 3)).code).toBe('HADB_PKG_INVALID_CONFIG');
    expect(check.oneOf('m', 'a', ['a', 'b'] as const)).toBe('a');
    expect(check.oneOf('m', undefined, ['a', 'b'] as const, 'b')).toBe('b');
    expect(failure(() => check.oneOf('m', 'c', ['a', 'b'] as const)).message).toBe(
      "m must be one of 'a', 'b', got 'c'",
    );
  });

  it('require and fail throw the package error with the message', () => {
    expect(() => check.require(true, 'never')).not.toThrow();
    expect(failure(() => check.require(false, 'servers or connection is required')).message).toBe(
      'servers or connection is required',
    );
    const error = failure(() => check.fail('bad'));
    expect(error).toBeInstanceOf(PkgError);
    expect(error.message).toBe('bad');
  });

  it('truncates long strings in messages and never echoes objects', () => {
    const long = 'x'.repeat(100);
    expect(failure(() => check.int('n', long)).message).toBe(`n must be a finite integer, got '${'x'.repeat(40)}…'`);
    expect(failure(() => check.int('n', { secret: 'hunter2' })).message).not.toContain('hunter2');
  });
});
