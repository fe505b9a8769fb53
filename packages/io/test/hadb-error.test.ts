import { describe, expect, it } from 'vitest';
import { HADB_ERROR_BRAND, HadbError, errorGuard, isHadbError } from '../src/index.js';

type ThingCode = 'HADB_THING_CLOSED' | 'HADB_THING_ABORTED';
class ThingError extends HadbError<ThingCode> {
  override readonly name = 'ThingError';
}
class OtherError extends HadbError<'HADB_OTHER_CLOSED'> {
  override readonly name = 'OtherError';
}
const isThingError = errorGuard<ThingError>('ThingError');

describe('HadbError', () => {
  it('carries code, message, name, cause and the shared brand', () => {
    const cause = new Error('root');
    const error = new ThingError('HADB_THING_CLOSED', 'thing is closed', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('HADB_THING_CLOSED');
    expect(error.message).toBe('thing is closed');
    expect(error.name).toBe('ThingError');
    expect(error.cause).toBe(cause);
    expect(error[HADB_ERROR_BRAND]).toBe(true);
    expect(HADB_ERROR_BRAND).toBe(Symbol.for('hadb.error'));
  });

  it('sets no own cause property when none is given', () => {
    expect(Object.hasOwn(new ThingError('HADB_THING_CLOSED', 'x'), 'cause')).toBe(false);
  });
});

describe('isHadbError', () => {
  it('accepts branded errors with a string code, optionally matching the code', () => {
    const error = new ThingError('HADB_THING_ABORTED', 'x');
    expect(isHadbError(error)).toBe(true);
    expect(isHadbError(error, 'HADB_THING_ABORTED')).toBe(true);
    expect(isHadbError(error, 'HADB_THING_CLOSED')).toBe(false);
  });

  it('accepts an error from a duplicate install (same brand, different class)', () => {
    const foreign = Object.assign(new Error('x'), { [Symbol.for('hadb.error')]: true, code: 'HADB_X_CLOSED' });
    expect(isHadbError(foreign, 'HADB_X_CLOSED')).toBe(true);
  });

  it('rejects unbranded errors, non-objects and branded values without a string code', () => {
    expect(isHadbError(Object.assign(new Error('x'), { code: 'HADB_X_CLOSED' }))).toBe(false);
    expect(isHadbError(null)).toBe(false);
    expect(isHadbError('HADB_X_CLOSED')).toBe(false);
    expect(isHadbError({ [HADB_ERROR_BRAND]: true, code: 7 })).toBe(false);
    expect(isHadbError({ [HADB_ERROR_BRAND]: 'yes', code: 'HADB_X' })).toBe(false);
  });
});

describe('errorGuard', () => {
  it('matches by name (not by class) and optionally by code', () => {
    expect(isThingError(new ThingError('HADB_THING_CLOSED', 'x'))).toBe(true);
    expect(isThingError(new ThingError('HADB_THING_CLOSED', 'x'), 'HADB_THING_CLOSED')).toBe(true);
    expect(isThingError(new ThingError('HADB_THING_CLOSED', 'x'), 'HADB_THING_ABORTED')).toBe(false);
    expect(isThingError(new OtherError('HADB_OTHER_CLOSED', 'x'))).toBe(false);
    const foreign = Object.assign(new Error('x'), {
      [HADB_ERROR_BRAND]: true,
      code: 'HADB_THING_CLOSED',
      name: 'ThingError',
    });
    expect(isThingError(foreign)).toBe(true);
    expect(isThingError(Object.assign(new Error('x'), { code: 'HADB_THING_CLOSED', name: 'ThingError' }))).toBe(false);
  });
});
