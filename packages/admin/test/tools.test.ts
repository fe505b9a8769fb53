import { describe, expect, it } from 'vitest';
import { requireBinary } from './support/tools.js';

describe('requireBinary (how the suites treat a missing prometheus/chromium)', () => {
  it('skips with a loud warning locally and fails under CI=true', () => {
    const missing = '/nonexistent/hadb-admin-test-binary';
    const writes: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => {
      writes.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      expect(requireBinary(missing, 'some-package', {})).toBe(false);
    } finally {
      process.stderr.write = write;
    }
    expect(writes.join('')).toContain('!!! SKIPPING suites that need some-package');
    expect(() => requireBinary(missing, 'some-package', { CI: 'true' })).toThrow(/failing because CI=true/);
    expect(requireBinary(process.execPath, 'nodejs', { CI: 'true' })).toBe(true);
  });
});
