import { createRequire } from 'node:module';

/** CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), slicing-by-8 tables. */
const TABLE = (() => {
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n] as number;
    for (let s = 1; s < 8; s++) {
      c = (t[c & 0xff] as number) ^ (c >>> 8);
      t[s * 256 + n] = c;
    }
  }
  return t;
})();

/** Pure-JS CRC-32C (slicing-by-8). Exported for tests; use {@link crc32c}. */
export function crc32cJs(data: Uint8Array): number {
  const t = TABLE;
  let crc = -1;
  let i = 0;
  const n = data.length;
  for (; i + 8 <= n; i += 8) {
    const a =
      ((data[i] as number) |
        ((data[i + 1] as number) << 8) |
        ((data[i + 2] as number) << 16) |
        ((data[i + 3] as number) << 24)) ^
      crc;
    crc =
      (t[1792 + (a & 0xff)] as number) ^
      (t[1536 + ((a >>> 8) & 0xff)] as number) ^
      (t[1280 + ((a >>> 16) & 0xff)] as number) ^
      (t[1024 + (a >>> 24)] as number) ^
      (t[768 + (data[i + 4] as number)] as number) ^
      (t[512 + (data[i + 5] as number)] as number) ^
      (t[256 + (data[i + 6] as number)] as number) ^
      (t[data[i + 7] as number] as number);
  }
  for (; i < n; i++) crc = (t[(crc ^ (data[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return ~crc >>> 0;
}

type NativeCrc = (input: Uint8Array) => number;

/** `@node-rs/crc32`'s SIMD CRC-32C when its prebuilt binary loads on this platform, else `null`. */
function loadNative(): NativeCrc | null {
  try {
    const mod = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c?: (input: Uint8Array) => number };
    const fn = mod.crc32c;
    if (typeof fn !== 'function') return null;
    // Check value from the CRC catalogue: crc32c("123456789") = 0xe3069283.
    if (fn(Buffer.from('123456789')) >>> 0 !== 0xe3069283) return null;
    return (input) => fn(input) >>> 0;
  } catch {
    return null;
  }
}

const native = loadNative();

/** Below this size the JS tables are as fast as the native call. */
const NATIVE_MIN = 512;

/** Which implementation {@link crc32c} uses for large inputs. */
export const crc32cImplementation: 'native' | 'js' = native === null ? 'js' : 'native';

/** CRC-32C (Castagnoli) of `data`, as an unsigned 32-bit number. `crc32c("123456789") === 0xe3069283`. */
export function crc32c(data: Uint8Array): number {
  return native !== null && data.length >= NATIVE_MIN ? native(data) : crc32cJs(data);
}
