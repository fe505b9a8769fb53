import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { crc32c, crc32cImplementation } from '../src/index.js';
import { crc32cJs } from '../src/crc32c.js';

describe('crc32c', () => {
  it('check values (CRC catalogue / RFC 3720)', () => {
    expect(crc32cJs(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32cJs(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32cJs(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32cJs(new Uint8Array(0))).toBe(0);
  });

  it(`the JS tables agree with the selected implementation (${crc32cImplementation}) at every length and alignment`, () => {
    const data = new Uint8Array(randomBytes(5000));
    for (let len = 0; len < 600; len++) {
      const off = len % 9;
      expect(crc32c(data.subarray(off, off + len))).toBe(crc32cJs(data.subarray(off, off + len)));
    }
    expect(crc32c(data)).toBe(crc32cJs(data));
  });
});
