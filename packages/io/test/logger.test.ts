import { describe, expect, it } from 'vitest';
import { HadbError, consoleLogger, describeError, silentLogger } from '../src/index.js';

describe('silentLogger', () => {
  it('has every level, does nothing and is frozen', () => {
    for (const level of ['debug', 'info', 'warn', 'error'] as const)
      expect(silentLogger[level]({ a: 1 }, 'm')).toBeUndefined();
    expect(Object.isFrozen(silentLogger)).toBe(true);
  });
});

describe('consoleLogger', () => {
  it('writes one JSON line per record at or above the level, with fields merged', () => {
    const lines: string[] = [];
    const log = consoleLogger('info', (line) => lines.push(line));
    log.debug({ n: 0 }, 'hidden');
    log.info({ db: 'a' }, 'promoted');
    log.warn({}, 'careful');
    log.error({ n: 2 }, 'failed');
    expect(lines).toHaveLength(3);
    const first = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(first).toMatchObject({ level: 'info', msg: 'promoted', db: 'a' });
    expect(new Date(first.time as string).toISOString()).toBe(first.time);
    expect(lines.map((l) => (JSON.parse(l) as { level: string }).level)).toEqual(['info', 'warn', 'error']);
  });

  it('filters by level: error drops warn, debug keeps everything', () => {
    const errorsOnly: string[] = [];
    const all: string[] = [];
    const e = consoleLogger('error', (l) => errorsOnly.push(l));
    const d = consoleLogger('debug', (l) => all.push(l));
    for (const log of [e, d]) {
      log.debug({}, 'a');
      log.info({}, 'b');
      log.warn({}, 'c');
      log.error({}, 'd');
    }
    expect(errorsOnly).toHaveLength(1);
    expect(all).toHaveLength(4);
  });

  it('serialises bigints as strings and errors as name/code/message only', () => {
    const lines: string[] = [];
    const log = consoleLogger('debug', (l) => lines.push(l));
    const error = new HadbError('HADB_X_CLOSED', 'closed', { cause: new Error('secret cause') });
    log.error({ seq: 12345678901234567890n, err: error }, 'oops');
    const record = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(record.seq).toBe('12345678901234567890');
    expect(record.err).toEqual({ name: 'HadbError', code: 'HADB_X_CLOSED', message: 'closed' });
    expect(lines[0]).not.toContain('secret cause');
    expect(lines[0]).not.toContain('stack');
  });
});

describe('describeError', () => {
  it('describes errors with and without a code, and non-errors', () => {
    expect(describeError(new TypeError('bad'))).toEqual({ name: 'TypeError', message: 'bad' });
    expect(describeError(Object.assign(new Error('e'), { code: 'ECONNRESET' }))).toEqual({
      name: 'Error',
      code: 'ECONNRESET',
      message: 'e',
    });
    expect(describeError(Object.assign(new Error('e'), { code: 42 }))).toEqual({ name: 'Error', message: 'e' });
    expect(describeError('plain')).toEqual({ name: 'NonError', message: 'plain' });
  });
});
