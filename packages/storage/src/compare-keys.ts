/**
 * Compares two keys in the order object stores list them: by their UTF-8 bytes (which equals
 * Unicode code point order). JavaScript's `<` compares UTF-16 code units instead, which disagrees
 * for characters above U+FFFF versus U+E000–U+FFFF; use this for every key comparison.
 * Returns a negative number, zero or a positive number, like `Array.prototype.sort` expects.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** Maps a UTF-16 code unit so that surrogates (supplementary characters) sort above U+E000–U+FFFF. */
function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}
