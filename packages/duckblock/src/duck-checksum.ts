const C_LO = 0x1ce4e5b9;
const C_HI = 0xbf58476d;
const B0 = C_LO & 0xffff;
const B1 = C_LO >>> 16;

/**
 * DuckDB's block checksum over `data` (whole 8-byte words, little-endian):
 * `5381 XOR (XOR over words of word × 0xbf58476d1ce4e5b9 mod 2^64)`. For a block, pass bytes
 * `[8, blockAllocSize)`; for a database header, bytes `[8, 4096)`. It is a change detector (word
 * order does not affect it), not a content hash.
 */
export function duckChecksum(data: Uint8Array): bigint {
  if (data.length % 8 !== 0) throw new RangeError('duckChecksum needs whole 8-byte words');
  const aligned = data.byteOffset % 4 === 0 ? data : Uint8Array.from(data);
  const u = new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.length >>> 2);
  let xl = 5381;
  let xh = 0;
  for (let i = 0; i < u.length; i += 2) {
    const lo = u[i]!;
    const hi = u[i + 1]!;
    const a0 = lo & 0xffff;
    const a1 = lo >>> 16;
    const p00 = a0 * B0;
    const p01 = a0 * B1;
    const p10 = a1 * B0;
    const p11 = a1 * B1;
    const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
    const mulhi = p11 + (p01 >>> 16) + (p10 >>> 16) + Math.floor(mid / 65536);
    xl ^= Math.imul(lo, C_LO);
    xh ^= (mulhi + Math.imul(lo, C_HI) + Math.imul(hi, C_LO)) | 0;
  }
  return (BigInt(xh >>> 0) << 32n) | BigInt(xl >>> 0);
}

/** True when the 8-byte checksum stored at the start of `block` matches its content. */
export function blockChecksumValid(block: Uint8Array): boolean {
  const stored = Buffer.from(block.buffer, block.byteOffset, 8).readBigUInt64LE(0);
  return stored === duckChecksum(block.subarray(8));
}
